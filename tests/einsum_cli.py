#!/usr/bin/env python3
"""`loupe einsum` through the binary: the plan as a table and as JSON, --run, and bad input.

Usage: einsum_cli.py path/to/loupe
"""
import json
import subprocess
import sys

LOUPE = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(*args):
    return subprocess.run([LOUPE, "einsum", *args], capture_output=True, text=True)


r = run("ij,jk->ik", "--shapes", "2x3,3x4", "--json")
ok = r.returncode == 0
if ok:
    j = json.loads(r.stdout)
    s = j["steps"][0]
    ok = len(j["steps"]) == 1 and (s["batch"], s["m"], s["n"], s["k"]) == (1, 2, 4, 3) and j["flops"] == 48 \
        and j["output"]["shape"] == [2, 4] and j["dtype"] == "f32"
check(ok, f"matmul: one GEMM 2x4x3, 48 FLOPs ({r.stderr.strip()})")

r = run("--explain", "bi,bj,ijk->bk", "-s", "8x7,8x9,7x9x5")
check(r.returncode == 0 and "gemm" in r.stdout and "naive single loop nest" in r.stdout
      and "best order over every contraction tree: the same cost" in r.stdout, "the table names the steps and the best order")

r = run("bcf,gde,ab,gde,feg,acb,c->e", "-s", "2x8x16,2x5x3,5x2,2x5x3,16x3x2,5x8x2,8")
check(r.returncode == 0 and "greedy" in r.stdout and "the chosen order costs" in r.stdout,
      "seven operands: the greedy order's loss against the best tree is stated")

r = run("ij,ij->j", "-s", "10x2,1x2", "--run", "3", "--json")
ok = r.returncode == 0
if ok:
    j = json.loads(r.stdout)
    ok = j["run"]["repeats"] == 3 and j["run"]["best_seconds"] > 0 and j["steps"][0]["kind"] == "sum"
check(ok, "a broadcast letter index: its private sum first; --run times it")

r = run(",ij->ij", "-s", ",3x4", "--dtype", "f64", "--json")
check(r.returncode == 0 and json.loads(r.stdout)["operands"][0]["shape"] == [], "an empty --shapes item is a scalar")

for args, want in [(["ij,jk->ik", "-s", "2xa,3x4"], "'2xa'"), (["ij,jk->ik", "-s", "2x3,4x5"], "index 'j'"),
                   (["ij,jk->ik", "-s", "2x3"], "1 operand(s) were given"), (["ij", "-s", "2x3", "--dtype", "f16"], "f16"),
                   (["ij", "-s", "2x"], "ends with 'x'")]:
    r = run(*args)
    check(r.returncode != 0 and want in r.stderr and r.stdout == "", f"{' '.join(args)}: an error naming {want} ({r.stderr.strip()})")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)

// einsum subscripts -> labels. Grammar (spaces ignored):
//   spec   := inputs [ "->" output ]
//   inputs := term { "," term }          one term per operand (a 0-d operand has an empty term)
//   term   := { letter | "..." }         at most one "..." per term
// Without "->" the output is implicit, as in NumPy: the '...' dims first, then the letters that
// appear exactly once, in ASCII order (uppercase before lowercase). With an explicit output, '...'
// dims that the output omits are summed.
#include <algorithm>
#include <cctype>

#include "tensor/kernels/einsum.h"

namespace loupe::einsum_detail {

std::string label_name(int label) {
  if (is_ellipsis_label(label)) return "...[" + std::to_string(label - kEllipsis) + "]";
  return std::string(1, label < 26 ? char('A' + label) : char('a' + label - 26));
}

static int letter_label(char c) { return std::isupper(static_cast<unsigned char>(c)) ? c - 'A' : 26 + (c - 'a'); }
static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

namespace {
// One term before ellipsis expansion: its letters, and where "..." sits among them (-1: none).
struct Term {
  std::string text;
  std::vector<int> letters;
  int ellipsis_at = -1;
};
}  // namespace

static Term parse_term(const std::string& spec, const std::string& text, const std::string& what) {
  Term t{text, {}, -1};
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_letter(c)) {
      t.letters.push_back(letter_label(c));
    } else if (c == '.') {
      LOUPE_CHECK(text.compare(i, 3, "...") == 0, "einsum('", spec, "'): '.' in ", what, " '", text,
                  "' is not part of an ellipsis '...'");
      LOUPE_CHECK(t.ellipsis_at < 0, "einsum('", spec, "'): more than one '...' in ", what, " '", text, "'");
      t.ellipsis_at = int(t.letters.size());
      i += 2;
    } else {
      LOUPE_CHECK(false, "einsum('", spec, "'): invalid character '", c, "' in ", what, " '", text,
                  "' (subscripts are letters a-z A-Z, ',' between operands, '...' and one '->')");
    }
  }
  return t;
}

// The operand's labels: its letters, with "..." replaced by the last `ndim - letters` ellipsis labels.
static Labels expand_term(const Term& t, int64_t ndim, int64_t ell_total) {
  Labels out;
  const int64_t ell_rank = ndim - int64_t(t.letters.size());
  for (int i = 0; i <= int(t.letters.size()); ++i) {
    if (i == t.ellipsis_at)
      for (int64_t j = 0; j < ell_rank; ++j) out.push_back(int(kEllipsis + ell_total - ell_rank + j));
    if (i < int(t.letters.size())) out.push_back(t.letters[size_t(i)]);
  }
  return out;
}

// Sizes of every label, broadcast as in NumPy: across operands the sizes of a label (a letter or a
// '...' dim) must agree or be 1, and the label takes the largest; an operand with size 1 there is
// read as expanded along it. Within one operand a repeated letter (a diagonal) needs equal sizes.
static std::vector<int64_t> label_sizes(const Problem& p, const std::vector<Shape>& shapes, int64_t ell_total) {
  std::vector<int64_t> size(size_t(kEllipsis + ell_total), -1);
  std::vector<int> from(size.size(), -1);  // the operand that set the size (for error messages)
  for (size_t k = 0; k < shapes.size(); ++k) {
    std::vector<int64_t> mine(size.size(), -1);  // this operand's size of each label
    for (size_t d = 0; d < shapes[k].size(); ++d) {
      const int l = p.inputs[k][d];
      const int64_t s = shapes[k][d];
      LOUPE_CHECK(mine[size_t(l)] < 0 || mine[size_t(l)] == s, "einsum('", p.spec, "'): index '", label_name(l),
                  "' repeats in operand ", k, " ", shape_str(shapes[k]), " with sizes ", mine[size_t(l)], " and ", s,
                  " (the dims of a diagonal must be equal)");
      mine[size_t(l)] = s;
      int64_t& cur = size[size_t(l)];
      if (cur < 0 || (cur == 1 && s != 1)) {
        cur = s;
        from[size_t(l)] = int(k);
        continue;
      }
      if (cur == s || s == 1) continue;
      const int k0 = from[size_t(l)];
      if (is_ellipsis_label(l))
        LOUPE_CHECK(false, "einsum('", p.spec, "'): '...' dims do not broadcast: operand ", k0, " has shape ",
                    shape_str(shapes[size_t(k0)]), ", operand ", k, " has shape ", shape_str(shapes[k]));
      LOUPE_CHECK(false, "einsum('", p.spec, "'): index '", label_name(l), "' has size ", cur, " in operand ", k0,
                  " ", shape_str(shapes[size_t(k0)]), " but size ", s, " in operand ", k, " ",
                  shape_str(shapes[k]), " (sizes of an index must agree or be 1)");
    }
  }
  for (auto& s : size)
    if (s < 0) s = 1;
  return size;
}

Problem parse(const std::string& spec_in, const std::vector<Shape>& shapes) {
  Problem p;
  p.spec = spec_in;
  std::string spec;
  for (char c : spec_in)
    if (!std::isspace(static_cast<unsigned char>(c))) spec += c;
  LOUPE_CHECK(!shapes.empty(), "einsum('", spec_in, "'): needs at least one operand");

  // Split "inputs->output".
  const size_t arrow = spec.find("->");
  const bool explicit_out = arrow != std::string::npos;
  const std::string lhs = explicit_out ? spec.substr(0, arrow) : spec;
  const std::string rhs = explicit_out ? spec.substr(arrow + 2) : "";
  LOUPE_CHECK(rhs.find("->") == std::string::npos, "einsum('", spec_in, "'): more than one '->'");
  for (char c : lhs + rhs)
    LOUPE_CHECK(c != '-' && c != '>', "einsum('", spec_in, "'): '", c, "' that is not part of '->'");
  LOUPE_CHECK(rhs.find(',') == std::string::npos, "einsum('", spec_in, "'): ',' in the output subscripts '", rhs,
              "'");

  std::vector<Term> terms;
  size_t start = 0;
  for (size_t k = 0;; ++k) {
    const size_t comma = lhs.find(',', start);
    const std::string text = lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    terms.push_back(parse_term(spec_in, text, "operand " + std::to_string(k) + " subscripts"));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  LOUPE_CHECK(terms.size() == shapes.size(), "einsum('", spec_in, "'): the subscripts name ", terms.size(),
              " operand(s) but ", shapes.size(), " operand(s) were given");

  // Rank checks and the number of '...' dims (the largest over operands).
  int64_t ell_total = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const int64_t ndim = int64_t(shapes[k].size()), nlet = int64_t(terms[k].letters.size());
    if (terms[k].ellipsis_at < 0)
      LOUPE_CHECK(ndim == nlet, "einsum('", spec_in, "'): operand ", k, " has shape ", shape_str(shapes[k]),
                  " (rank ", ndim, ") but its subscripts '", terms[k].text, "' name ", nlet, " dims");
    else
      LOUPE_CHECK(ndim >= nlet, "einsum('", spec_in, "'): operand ", k, " has shape ", shape_str(shapes[k]),
                  " (rank ", ndim, ") but its subscripts '", terms[k].text, "' name at least ", nlet, " dims");
    if (terms[k].ellipsis_at >= 0) ell_total = std::max(ell_total, ndim - nlet);
  }
  for (size_t k = 0; k < terms.size(); ++k)
    p.inputs.push_back(expand_term(terms[k], int64_t(shapes[k].size()), ell_total));

  // Output labels.
  if (explicit_out) {
    const Term out = parse_term(spec_in, rhs, "output subscripts");
    std::vector<bool> in_input(size_t(kEllipsis), false);
    for (auto& t : terms)
      for (int l : t.letters) in_input[size_t(l)] = true;
    std::vector<bool> seen(size_t(kEllipsis), false);
    for (int l : out.letters) {
      LOUPE_CHECK(in_input[size_t(l)], "einsum('", spec_in, "'): output index '", label_name(l),
                  "' does not appear in any input");
      LOUPE_CHECK(!seen[size_t(l)], "einsum('", spec_in, "'): output index '", label_name(l),
                  "' appears more than once in the output");
      seen[size_t(l)] = true;
    }
    p.output = expand_term(out, int64_t(out.letters.size()) + (out.ellipsis_at >= 0 ? ell_total : 0), ell_total);
  } else {
    std::vector<int> count(size_t(kEllipsis), 0);
    for (auto& t : terms)
      for (int l : t.letters) ++count[size_t(l)];
    for (int64_t j = 0; j < ell_total; ++j) p.output.push_back(int(kEllipsis + j));
    for (int l = 0; l < kEllipsis; ++l)
      if (count[size_t(l)] == 1) p.output.push_back(l);
  }
  p.size = label_sizes(p, shapes, ell_total);
  return p;
}

}  // namespace loupe::einsum_detail

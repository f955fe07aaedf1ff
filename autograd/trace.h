// Tracing built on the op hooks: LOUPE_TRACE=file.jsonl (read at start-up)
// writes one JSON line per executed op, forward and backward, with its name,
// input/output shapes and output min/max/mean.
#pragma once
#include <string>

namespace loupe {

// Starts writing a JSONL trace to `path` (replacing any active trace). Throws if the file cannot be opened.
void start_trace(const std::string& path);
void stop_trace();

}  // namespace loupe

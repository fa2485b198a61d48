// Small file helpers shared by every writer of user data (gate checkpoints, training state).
#pragma once

#include <seer/status.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace seer {

// JSON nested deeper than this is refused: nlohmann parses iteratively but copies recursively, and a
// file nested 300,000 deep overflowed the stack (found by fuzzing). Real configs nest 3-5 levels.
constexpr int kMaxJsonDepth = 128;

// `path` is a regular file of at most `max_bytes` (when >= 0): checked with stat(), which does not
// block, before anything opens it, since opening a FIFO blocks and /dev/zero reads forever. Errors
// name the file.
Status check_regular_file(const std::string& path, int64_t max_bytes = -1);

// The largest JSON file read (a tokenizer.json of a 256k vocabulary is ~20 MB).
constexpr int64_t kMaxJsonBytes = int64_t(512) << 20;

// Parses `text`, refusing nesting beyond kMaxJsonDepth; errors begin with `what` (a file name) and
// say where the text stops being JSON.
Result<nlohmann::json> parse_json(const std::string& text, const std::string& what);

// Reads and parses the JSON file `path`; with `object`, its top level must be an object. Errors name
// the file.
Result<nlohmann::json> read_json_file(const std::string& path, bool object = true);

// Writes `bytes` to `path` through `path`.tmp and a rename, so a reader (or a crash) never sees
// a half-written file. Errors name the file.
Status write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace seer

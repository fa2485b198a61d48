// Small file helpers shared by every writer of user data (gate checkpoints, training state).
#pragma once

#include <seer/status.h>

#include <string>

namespace seer {

// Writes `bytes` to `path` through `path`.tmp and a rename, so a reader (or a crash) never sees
// a half-written file. Errors name the file.
Status write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace seer

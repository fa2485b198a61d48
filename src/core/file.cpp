#include "core/file.h"

#include <filesystem>
#include <fstream>

namespace seer {

Status write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::error("{}: cannot create", tmp);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.flush();
    if (!out) return Status::error("{}: write failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::error("{}: cannot rename to {}: {}", tmp, path, ec.message());
  return Status::ok();
}

}  // namespace seer

#include "core/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace seer {

Status check_regular_file(const std::string& path, int64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::error("{}: cannot open: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return Status::error("{}: not a regular file ({})", path, S_ISDIR(st.st_mode) ? "a directory" : "a device, FIFO or socket");
  if (max_bytes >= 0 && int64_t(st.st_size) > max_bytes)
    return Status::error("{}: {} bytes is more than the {} this file may hold", path, int64_t(st.st_size), max_bytes);
  return Status::ok();
}

Result<nlohmann::json> parse_json(const std::string& text, const std::string& what) {
  using nlohmann::json;
  bool too_deep = false;
  try {
    json j = json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) too_deep = true;
      return !too_deep;  // (discards the rest; the parse runs on to the end of the text)
    });
    if (too_deep) return Status::error("{}: invalid JSON (nested deeper than {} levels)", what, kMaxJsonDepth);
    return j;
  } catch (const json::exception& e) {  // nlohmann's message says where and why ("at line 3, column 5: ...")
    if (too_deep) return Status::error("{}: invalid JSON (nested deeper than {} levels)", what, kMaxJsonDepth);
    std::string why = e.what();
    if (const size_t at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);  // drops "[json.exception.parse_error.101] "
    return Status::error("{}: invalid JSON: {}", what, why);
  }
}

Result<nlohmann::json> read_json_file(const std::string& path, bool object) {
  SEER_RETURN_IF_ERROR(check_regular_file(path, kMaxJsonBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  SEER_ASSIGN_OR_RETURN(nlohmann::json j, parse_json(ss.str(), path));
  if (object && !j.is_object()) return Status::error("{}: top level is not a JSON object", path);
  return j;
}

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

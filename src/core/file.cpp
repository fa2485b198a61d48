#include "core/file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace seer {

Result<nlohmann::json> parse_json(const std::string& text, const std::string& what) {
  using nlohmann::json;
  bool too_deep = false;
  json j = json::parse(
      text,
      [&](int depth, json::parse_event_t, json&) {
        if (depth > kMaxJsonDepth) too_deep = true;
        return !too_deep;  // (discards the rest; the parse runs on to the end of the text)
      },
      /*allow_exceptions=*/false);
  if (too_deep) return Status::error("{}: invalid JSON (nested deeper than {} levels)", what, kMaxJsonDepth);
  if (j.is_discarded()) return Status::error("{}: invalid JSON", what);
  return j;
}

Result<nlohmann::json> read_json_file(const std::string& path, bool object) {
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

// safetensors reader: mmap + JSON header parse + validation (see safetensors.h).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include "core/file.h"

namespace seer {
namespace {

using json = nlohmann::json;

// Element size of every dtype the safetensors spec defines; 0 for a string we do not know.
size_t element_bytes(const std::string& s) {
  if (s == "F32" || s == "I32" || s == "U32") return 4;
  if (s == "F16" || s == "BF16" || s == "I16" || s == "U16") return 2;
  if (s == "F64" || s == "I64" || s == "U64" || s == "C64") return 8;
  if (s == "BOOL" || s == "U8" || s == "I8" || s == "F8_E4M3" || s == "F8_E5M2" || s == "F8_E8M0")
    return 1;
  return 0;
}

std::optional<DType> supported_dtype(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return std::nullopt;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Reads one tensor entry of the header; `data_size` is the size of the data section.
Status parse_entry(const std::string& path, const std::string& name, const json& e,
                   const uint8_t* data, uint64_t data_size, SafetensorsTensor* t) {
  t->name = name;
  if (!e.is_object())
    return Status::error("{}: tensor '{}': header entry is not an object: {}", path, name, e.dump());
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string())
    return Status::error("{}: tensor '{}': missing or non-string 'dtype'", path, name);
  t->dtype_name = dt->get<std::string>();
  const size_t esize = element_bytes(t->dtype_name);
  if (esize == 0)
    return Status::error("{}: tensor '{}': unknown dtype '{}'", path, name, t->dtype_name);
  t->dtype = supported_dtype(t->dtype_name);

  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array())
    return Status::error("{}: tensor '{}': missing or non-array 'shape'", path, name);
  uint64_t numel = 1;
  for (const json& d : *sh) {
    if (!d.is_number_unsigned())
      return Status::error("{}: tensor '{}': shape entry {} is not a non-negative integer", path,
                           name, d.dump());
    const uint64_t v = d.get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max()) ||
        (v != 0 && numel > std::numeric_limits<uint64_t>::max() / esize / v))
      return Status::error("{}: tensor '{}': shape {} is too large", path, name, sh->dump());
    numel *= v;
    t->shape.push_back(int64_t(v));
  }

  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    return Status::error("{}: tensor '{}': 'data_offsets' must be two non-negative integers, got {}",
                         path, name, off == e.end() ? std::string("nothing") : off->dump());
  const uint64_t begin = (*off)[0].get<uint64_t>();
  const uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end)
    return Status::error("{}: tensor '{}': data_offsets [{}, {}] has begin > end", path, name,
                         begin, end);
  if (end > data_size)
    return Status::error(
        "{}: tensor '{}': data_offsets [{}, {}] are beyond the data section ({} bytes)", path, name,
        begin, end, data_size);
  const uint64_t expected = numel * esize;
  if (end - begin != expected)
    return Status::error(
        "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", path,
        name, begin, end, end - begin, shape_str(t->shape), t->dtype_name, expected);
  t->offset = begin;
  t->nbytes = expected;
  t->data = data + begin;
  return Status::ok();
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(map_, size_);
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  // stat() first: open() of a FIFO blocks until a writer comes, and a directory or a device cannot
  // be mapped.
  SEER_RETURN_IF_ERROR(check_regular_file(path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::error("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {  // (replaced between the stat() and the open())
    ::close(fd);
    return Status::error("{}: not a regular file", path);
  }
  f->size_ = uint64_t(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    return Status::error("{}: file is {} bytes, too short for the 8-byte header length", path,
                         f->size_);
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (m == MAP_FAILED) return Status::error("{}: mmap failed: {}", path, std::strerror(map_err));
  f->map_ = m;
  const uint8_t* base = static_cast<const uint8_t*>(m);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > f->size_ - 8)
    return Status::error("{}: header length {} is beyond the file ({} bytes)", path, header_len,
                         f->size_);
  const char* hdr = reinterpret_cast<const char*>(base + 8);
  const uint8_t* data = base + 8 + header_len;
  const uint64_t data_size = f->size_ - 8 - header_len;

  // nlohmann keeps the last of duplicate keys silently; a parse callback sees every key, so
  // duplicate tensor names (depth 1) are caught here.
  std::unordered_set<std::string> seen;
  std::string duplicate;
  json header;
  try {
    header = json::parse(
        hdr, hdr + header_len,
        [&](int depth, json::parse_event_t ev, json& parsed) {
          if (depth > kMaxJsonDepth) throw std::runtime_error(fmt::format("nested deeper than {} levels", kMaxJsonDepth));
          if (depth == 1 && ev == json::parse_event_t::key && parsed.is_string() &&
              !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
            duplicate = parsed.get<std::string>();
          return true;
        });
  } catch (const std::exception& e) {  // (json::exception, or the depth limit's)
    return Status::error("{}: invalid JSON header ({} bytes): {}", path, header_len, e.what());
  }
  if (!header.is_object())
    return Status::error("{}: JSON header is not an object", path);
  if (!duplicate.empty())
    return Status::error("{}: tensor '{}' appears twice in the header", path, duplicate);

  try {
    f->tensors_.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      SafetensorsTensor t;
      SEER_RETURN_IF_ERROR(parse_entry(path, it.key(), it.value(), data, data_size, &t));
      f->index_.emplace(t.name, f->tensors_.size());
      f->tensors_.push_back(std::move(t));
    }
  } catch (const json::exception& e) {
    return Status::error("{}: malformed header: {}", path, e.what());
  }
  // The format forbids tensors sharing bytes: a header that points two names at one range is corrupt.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const SafetensorsTensor& t : f->tensors_)
    if (t.nbytes > 0) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsTensor* a, const SafetensorsTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->offset < by_offset[i - 1]->offset + by_offset[i - 1]->nbytes)
      return Status::error("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path, by_offset[i - 1]->name,
                           by_offset[i - 1]->offset, by_offset[i - 1]->offset + by_offset[i - 1]->nbytes,
                           by_offset[i]->name, by_offset[i]->offset, by_offset[i]->offset + by_offset[i]->nbytes);
  return f;
}

}  // namespace seer

// GGUF v2/v3 reader (github.com/ggml-org/ggml docs/gguf.md), little-endian only.
// File layout: "GGUF" u32 version, u64 tensor_count, u64 kv_count, kv_count x {string key, u32 type,
// value}, tensor_count x {string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset},
// padding to `general.alignment`, then the data section (tensor offsets are relative to it).
// Strings are u64 length + bytes (no terminator); arrays are u32 elem_type, u64 count, elements.
// The whole file is mapped read-only. Every read goes through a Cursor that checks the remaining
// bytes first, and every count is compared with what the rest of the file could possibly hold
// before anything is allocated, so a corrupt file yields a Status, never a crash or a huge alloc
// (metadata arrays are also limited to kGgufMaxArrayElems elements in all). Tensor data must follow
// ggml's layout, each tensor where the previous one ends, so that types and shapes match the bytes.
#include <seer/gguf.h>

#include <fmt/ranges.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/file.h"

namespace seer {

namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;

std::string_view type_name(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "?";
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::kFloat64); }

// Size of a fixed-size scalar, 0 for string/array.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

// Smallest number of bytes one value of this type occupies in the file.
uint64_t min_value_size(GgufType t) {
  if (t == GgufType::kString) return 8;   // length prefix
  if (t == GgufType::kArray) return 12;   // elem type + count
  return scalar_size(t);
}

bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

// GGML type ids we can load; anything else is rejected by name.
bool map_ggml_type(uint32_t id, DType* out) {
  switch (id) {
    case 0: *out = DType::kF32; return true;
    case 1: *out = DType::kF16; return true;
    case 2: *out = DType::kQ4_0; return true;
    case 3: *out = DType::kQ4_1; return true;
    case 8: *out = DType::kQ8_0; return true;
    case 30: *out = DType::kBF16; return true;
    default: return false;
  }
}

// Names of GGML types we do not load, for error messages.
std::string_view ggml_type_name(uint32_t id) {
  switch (id) {
    case 6: return "Q5_0";
    case 7: return "Q5_1";
    case 9: return "Q8_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K";
    case 12: return "Q4_K";
    case 13: return "Q5_K";
    case 14: return "Q6_K";
    case 15: return "Q8_K";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    default: return id >= 16 && id <= 23 ? "IQ" : "unknown";
  }
}

// `what` names a field in messages: a string, or a callable returning one, called only on error
// (so reading an array of a million strings formats no names).
template <typename What>
std::string field_name(const What& what) {
  if constexpr (std::is_invocable_v<What>) {
    return what();
  } else {
    return std::string(what);
  }
}

// Bounds-checked little-endian reader over the mapping.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* base, uint64_t size)
      : path_(path), base_(base), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename What>
  Status need(uint64_t n, const What& what) const {
    if (n > remaining()) {
      return Status::error("{}: truncated file: {} needs {} bytes at offset {} but the file has {} bytes",
                           path_, field_name(what), n, pos_, size_);
    }
    return Status::ok();
  }
  template <typename T, typename What>
  Status read(T* out, const What& what) {
    SEER_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }
  template <typename What>
  Status read_string(std::string* out, const What& what) {
    uint64_t len = 0;
    SEER_RETURN_IF_ERROR(read(&len, [&] { return field_name(what) + " (string length)"; }));
    if (len > remaining()) {
      return Status::error("{}: {}: string length {} exceeds the {} bytes left in the file (offset {}, file {} bytes)",
                           path_, field_name(what), len, remaining(), pos_, size_);
    }
    out->assign(reinterpret_cast<const char*>(base_ + pos_), size_t(len));
    pos_ += len;
    return Status::ok();
  }
  // The next `n` bytes, which the caller has checked with need().
  const uint8_t* skip(uint64_t n) {
    SEER_ASSERT(n <= remaining());
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  const std::string& path_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Reads one scalar of type `t` into an int64/uint64/double/bool/string variant.
Status read_scalar(Cursor& c, GgufType t, const std::string& what,
                   std::variant<int64_t, uint64_t, double, bool, std::string>* out) {
  switch (t) {
    case GgufType::kUint8: { uint8_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = uint64_t(v); break; }
    case GgufType::kInt8: { int8_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = int64_t(v); break; }
    case GgufType::kUint16: { uint16_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = uint64_t(v); break; }
    case GgufType::kInt16: { int16_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = int64_t(v); break; }
    case GgufType::kUint32: { uint32_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = uint64_t(v); break; }
    case GgufType::kInt32: { int32_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = int64_t(v); break; }
    case GgufType::kUint64: { uint64_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = v; break; }
    case GgufType::kInt64: { int64_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = v; break; }
    case GgufType::kFloat32: { float v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = double(v); break; }
    case GgufType::kFloat64: { double v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = v; break; }
    case GgufType::kBool: { uint8_t v; SEER_RETURN_IF_ERROR(c.read(&v, what)); *out = v != 0; break; }
    case GgufType::kString: {
      std::string s;
      SEER_RETURN_IF_ERROR(c.read_string(&s, what));
      *out = std::move(s);
      break;
    }
    case GgufType::kArray:
      SEER_ASSERT(false);
  }
  return Status::ok();
}

// Appends `count` little-endian elements of type T at `p` to `out`, widened to int64 or double
// (uint64 values above 2^63 wrap; no tokenizer id or type comes near).
template <typename T, typename Out>
void append_values(const uint8_t* p, uint64_t count, std::vector<Out>* out) {
  out->reserve(out->size() + count);
  for (uint64_t i = 0; i < count; ++i) {
    T x;
    std::memcpy(&x, p + i * sizeof(T), sizeof(T));
    out->push_back(Out(x));
  }
}

// `*array_elems` counts the array elements read so far in the file, against kGgufMaxArrayElems.
Status read_value(Cursor& c, const std::string& path, const std::string& key, GgufType type,
                  GgufValue* v, uint64_t* array_elems) {
  v->type = type;
  if (type != GgufType::kArray) return read_scalar(c, type, "value of key '" + key + "'", &v->scalar);

  uint32_t et = 0;
  SEER_RETURN_IF_ERROR(c.read(&et, [&] { return "array element type of key '" + key + "'"; }));
  if (!valid_type(et)) {
    return Status::error("{}: key '{}': invalid array element type {}", path, key, et);
  }
  const auto elem = GgufType(et);
  if (elem == GgufType::kArray) {
    return Status::error("{}: key '{}': nested arrays (array of array) are not supported", path, key);
  }
  v->elem_type = elem;
  uint64_t count = 0;
  SEER_RETURN_IF_ERROR(c.read(&count, [&] { return "array length of key '" + key + "'"; }));
  // Every element takes at least min_value_size bytes: reject counts the file cannot hold.
  if (count > c.remaining() / min_value_size(elem)) {
    return Status::error(
        "{}: key '{}': array length {} of {} exceeds what the remaining {} bytes of the file can hold",
        path, key, count, type_name(elem), c.remaining());
  }
  // Elements are widened (a uint8 to 8 bytes, a string to 32 or more), so a count the file can
  // hold may still ask for gigabytes: the arrays of one file are limited in all.
  if (count > kGgufMaxArrayElems - *array_elems) {
    return Status::error(
        "{}: key '{}': array length {} of {} is more than the {} elements the metadata arrays of a file may hold "
        "({} read before this key)",
        path, key, count, type_name(elem), kGgufMaxArrayElems, *array_elems);
  }
  *array_elems += count;
  if (elem == GgufType::kString) {
    v->strings.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      std::string s;
      SEER_RETURN_IF_ERROR(c.read_string(&s, [&] { return fmt::format("element {} of key '{}'", i, key); }));
      v->strings.push_back(std::move(s));
    }
    return Status::ok();
  }
  // Fixed-size elements: the count check above keeps them inside the file.
  const uint8_t* p = c.skip(count * scalar_size(elem));
  switch (elem) {
    case GgufType::kFloat32: append_values<float>(p, count, &v->floats); break;
    case GgufType::kFloat64: append_values<double>(p, count, &v->floats); break;
    case GgufType::kUint8: append_values<uint8_t>(p, count, &v->ints); break;
    case GgufType::kInt8: append_values<int8_t>(p, count, &v->ints); break;
    case GgufType::kUint16: append_values<uint16_t>(p, count, &v->ints); break;
    case GgufType::kInt16: append_values<int16_t>(p, count, &v->ints); break;
    case GgufType::kUint32: append_values<uint32_t>(p, count, &v->ints); break;
    case GgufType::kInt32: append_values<int32_t>(p, count, &v->ints); break;
    case GgufType::kUint64: append_values<uint64_t>(p, count, &v->ints); break;
    case GgufType::kInt64: append_values<int64_t>(p, count, &v->ints); break;
    case GgufType::kBool:  // any non-zero byte is true
      v->ints.reserve(count);
      for (uint64_t i = 0; i < count; ++i) v->ints.push_back(p[i] != 0 ? 1 : 0);
      break;
    case GgufType::kString: case GgufType::kArray: SEER_ASSERT(false);
  }
  return Status::ok();
}

}  // namespace

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufFile::~GgufFile() {
  if (base_ != nullptr) munmap(const_cast<uint8_t*>(base_), size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;

  // stat() first: open() of a FIFO blocks until a writer comes.
  SEER_RETURN_IF_ERROR(check_regular_file(path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::error("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error("{}: not a regular file", path);
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < 4) {
    ::close(fd);
    return Status::error("{}: truncated file: {} bytes is too small for the GGUF magic", path, size);
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return Status::error("{}: mmap of {} bytes failed: {}", path, size, std::strerror(map_err));
  f->base_ = static_cast<const uint8_t*>(p);
  f->size_ = size;

  Cursor c(f->path_, f->base_, size);
  char magic[4];
  SEER_RETURN_IF_ERROR(c.read(&magic, "magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    return Status::error("{}: not a GGUF file: magic is {:02x} {:02x} {:02x} {:02x}, expected 'GGUF'",
                         path, uint8_t(magic[0]), uint8_t(magic[1]), uint8_t(magic[2]), uint8_t(magic[3]));
  }
  SEER_RETURN_IF_ERROR(c.read(&f->version_, "version"));
  if (f->version_ == 1) {
    return Status::error("{}: GGUF version 1 is not supported (32-bit counts); re-convert the model to v2/v3", path);
  }
  if (f->version_ != 2 && f->version_ != 3) {
    return Status::error("{}: unsupported GGUF version {} (supported: 2, 3)", path, f->version_);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  SEER_RETURN_IF_ERROR(c.read(&n_tensors, "tensor count"));
  SEER_RETURN_IF_ERROR(c.read(&n_kv, "metadata key/value count"));
  // Minimal sizes: a KV is key length + type + 1 byte; a tensor info is name length + n_dims +
  // one dim + type + offset.
  constexpr uint64_t kMinKv = 8 + 4 + 1;
  constexpr uint64_t kMinTensor = 8 + 4 + 8 + 4 + 8;
  if (n_kv > c.remaining() / kMinKv) {
    return Status::error("{}: metadata key/value count {} exceeds what the file ({} bytes) can hold",
                         path, n_kv, size);
  }
  if (n_tensors > c.remaining() / kMinTensor) {
    return Status::error("{}: tensor count {} exceeds what the file ({} bytes) can hold", path,
                         n_tensors, size);
  }

  uint64_t array_elems = 0;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    SEER_RETURN_IF_ERROR(c.read_string(&key, fmt::format("key of metadata entry {}", i)));
    uint32_t t = 0;
    SEER_RETURN_IF_ERROR(c.read(&t, "value type of key '" + key + "'"));
    if (!valid_type(t)) return Status::error("{}: key '{}': invalid value type {}", path, key, t);
    if (f->kv_.count(key) != 0) return Status::error("{}: duplicate metadata key '{}'", path, key);
    GgufValue v;
    SEER_RETURN_IF_ERROR(read_value(c, path, key, GgufType(t), &v, &array_elems));
    f->kv_.emplace(std::move(key), std::move(v));
  }

  if (f->find("general.alignment") != nullptr) {
    auto a = f->get_int("general.alignment");
    if (!a) return a.status();
    // GGUF: "must be a multiple of 8". Tensor data is read in place as fp16 / block structs / floats,
    // so a smaller alignment would make those reads misaligned.
    if (*a <= 0 || (*a & (*a - 1)) != 0 || *a % 8 != 0) {
      return Status::error("{}: key 'general.alignment': value {} is not a power of two of at least 8", path, *a);
    }
    f->alignment_ = uint64_t(*a);
  } else {
    f->alignment_ = kDefaultAlignment;
  }

  f->tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    SEER_RETURN_IF_ERROR(c.read_string(&t.name, fmt::format("name of tensor {}", i)));
    const std::string tn = "tensor '" + t.name + "'";
    if (f->tensor_index_.count(t.name) != 0) {
      return Status::error("{}: duplicate tensor name '{}'", path, t.name);
    }
    uint32_t n_dims = 0;
    SEER_RETURN_IF_ERROR(c.read(&n_dims, "n_dims of " + tn));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Status::error("{}: {}: n_dims {} is out of range (1..{})", path, tn, n_dims, kMaxDims);
    }
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      SEER_RETURN_IF_ERROR(c.read(&ne, fmt::format("dimension {} of {}", d, tn)));
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max())) {
        return Status::error("{}: {}: dimension {} has invalid size {}", path, tn, d, ne);
      }
      if (int64_t(ne) > std::numeric_limits<int64_t>::max() / numel) {
        return Status::error("{}: {}: element count overflows at dimension {} (size {})", path, tn, d, ne);
      }
      numel *= int64_t(ne);
      t.shape.push_back(int64_t(ne));
    }
    uint32_t type_id = 0;
    SEER_RETURN_IF_ERROR(c.read(&type_id, "type of " + tn));
    if (!map_ggml_type(type_id, &t.dtype)) {
      return Status::error("{}: {}: unsupported GGML type id {} ({}); supported: F32=0, F16=1, Q4_0=2, Q4_1=3, Q8_0=8, BF16=30",
                           path, tn, type_id, ggml_type_name(type_id));
    }
    const int64_t blk = dtype_block_elems(t.dtype);
    if (t.shape[0] % blk != 0) {
      return Status::error("{}: {}: row length {} is not a multiple of the {} block size {}", path, tn,
                           t.shape[0], dtype_name(t.dtype), blk);
    }
    // numel fits in int64, and block bytes / block elems <= 4, so the byte count fits in uint64.
    t.nbytes = uint64_t(numel / blk) * dtype_block_bytes(t.dtype);
    SEER_RETURN_IF_ERROR(c.read(&t.offset, "data offset of " + tn));
    if (t.offset % f->alignment_ != 0) {
      return Status::error("{}: {}: data offset {} is not a multiple of the alignment {}", path, tn,
                           t.offset, f->alignment_);
    }
    f->tensor_index_.emplace(t.name, f->tensors_.size());
    f->tensors_.push_back(std::move(t));
  }

  // Data section starts at the next multiple of the alignment after the tensor infos.
  const uint64_t info_end = c.pos();
  const uint64_t data_start = info_end + (f->alignment_ - info_end % f->alignment_) % f->alignment_;
  // ggml's rule (gguf_init_from_file_impl): in the order of the infos, each tensor starts where the
  // previous one ends, rounded up to the alignment, and the first at 0. Only then do the sizes that
  // the types and shapes imply account for every byte: a Q4_1 tensor relabelled Q4_0, or two
  // tensors sharing bytes, breaks the chain.
  uint64_t expected = 0;
  for (size_t i = 0; i < f->tensors_.size(); ++i) {
    GgufTensor& t = f->tensors_[i];
    const uint64_t avail = data_start <= size ? size - data_start : 0;
    if (data_start > size || t.offset > avail || t.nbytes > avail - t.offset) {
      return Status::error("{}: tensor '{}': data [offset {}, size {}] extends beyond the end of the file ({} bytes, data section at {})",
                           path, t.name, t.offset, t.nbytes, size, data_start);
    }
    if (t.offset != expected) {
      std::string after = "the first tensor starts at 0";
      if (i > 0) {
        const GgufTensor& p = f->tensors_[i - 1];
        after = fmt::format("the previous tensor '{}' ({} [{}], {} bytes at offset {}) ends there, rounded up to the alignment {}",
                            p.name, dtype_name(p.dtype), fmt::join(p.shape, ", "), p.nbytes, p.offset, f->alignment_);
      }
      return Status::error("{}: tensor '{}' has offset {}, expected {} (tensors overlap, or a type/shape does not match the data: {})",
                           path, t.name, t.offset, expected, after);
    }
    // offset + nbytes <= size here, so the sum cannot wrap.
    expected = t.offset + t.nbytes;
    expected += (f->alignment_ - expected % f->alignment_) % f->alignment_;
    t.data = f->base_ + data_start + t.offset;
  }
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status wrong_type(const std::string& path, const std::string& key, const GgufValue& v,
                  std::string_view expected) {
  if (v.is_array()) {
    return Status::error("{}: key '{}' is an array of {}, expected {}", path, key, type_name(v.elem_type), expected);
  }
  return Status::error("{}: key '{}' has type {}, expected {}", path, key, type_name(v.type), expected);
}

}  // namespace

Result<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::error("{}: missing metadata key '{}'", path_, key);
  if (!is_integer(v->type)) return wrong_type(path_, key, *v, "an integer");
  if (auto* s = std::get_if<int64_t>(&v->scalar)) return *s;
  const uint64_t u = std::get<uint64_t>(v->scalar);
  if (u > uint64_t(std::numeric_limits<int64_t>::max())) {
    return Status::error("{}: key '{}': value {} does not fit in int64", path_, key, u);
  }
  return int64_t(u);
}

Result<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::error("{}: missing metadata key '{}'", path_, key);
  if (v->type == GgufType::kFloat32 || v->type == GgufType::kFloat64) return std::get<double>(v->scalar);
  if (!is_integer(v->type)) return wrong_type(path_, key, *v, "a number");
  if (auto* s = std::get_if<int64_t>(&v->scalar)) return double(*s);
  return double(std::get<uint64_t>(v->scalar));
}

Result<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::error("{}: missing metadata key '{}'", path_, key);
  if (v->type != GgufType::kString) return wrong_type(path_, key, *v, "a string");
  return std::get<std::string>(v->scalar);
}

Result<bool> GgufFile::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::error("{}: missing metadata key '{}'", path_, key);
  if (v->type != GgufType::kBool) return wrong_type(path_, key, *v, "a bool");
  return std::get<bool>(v->scalar);
}

Result<const GgufValue*> GgufFile::get_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::error("{}: missing metadata key '{}'", path_, key);
  if (!v->is_array()) return wrong_type(path_, key, *v, "an array");
  return v;
}

Result<int64_t> GgufFile::get_int_or(const std::string& key, int64_t dflt) const {
  if (find(key) == nullptr) return dflt;
  return get_int(key);
}

Result<double> GgufFile::get_float_or(const std::string& key, double dflt) const {
  if (find(key) == nullptr) return dflt;
  return get_float(key);
}

}  // namespace seer

// GGUF v2/v3 reader: header, metadata key/values, tensor infos, alignment, mmap of the data.
// Every offset, size and count is bounds-checked before use: a corrupt or truncated file gives a
// Status naming the file, the field and the value, never a crash or an out-of-bounds read. Tensor
// data must be laid out as ggml lays it out (each tensor where the previous one ends, aligned).
// Spec: github.com/ggml-org/ggml docs/gguf.md. Tensor dims are stored innermost-first (ne[0] is
// the row length); `GgufTensor::shape` keeps that order.
#pragma once

#include <seer/dtype.h>
#include <seer/status.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace seer {

enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// The metadata arrays of one file hold at most this many elements in all; a file asking for more is
// refused (naming the key and the count). Elements are widened when read (a uint8 to an int64, a
// string to a std::string), so a sparse file declaring a 2^30-element array once took gigabytes.
// Real files stay far below: a 256k-token tokenizer's tokens, scores, types and merges are ~1M.
constexpr uint64_t kGgufMaxArrayElems = uint64_t(1) << 24;

// One metadata value. Arrays hold a homogeneous element type.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // for arrays
  // Scalars: integers widened to int64/uint64, floats to double.
  std::variant<int64_t, uint64_t, double, bool, std::string> scalar;
  // Arrays: exactly one of these is filled according to elem_type.
  std::vector<std::string> strings;
  std::vector<int64_t> ints;  // any integer element type (and bool)
  std::vector<double> floats;

  bool is_array() const { return type == GgufType::kArray; }
  size_t array_size() const { return strings.size() + ints.size() + floats.size(); }
};

struct GgufTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // innermost first, as in the file: shape[0] = row length
  uint64_t offset = 0;         // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping
  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps and parses `path`. All validation happens here.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters; errors name the file and the key (missing key, or wrong type).
  Result<int64_t> get_int(const std::string& key) const;    // any integer type
  Result<double> get_float(const std::string& key) const;   // float32/64 or integer
  Result<std::string> get_string(const std::string& key) const;
  Result<bool> get_bool(const std::string& key) const;
  Result<const GgufValue*> get_array(const std::string& key) const;
  // Getters with a default when the key is absent (still an error if present with a wrong type).
  Result<int64_t> get_int_or(const std::string& key, int64_t dflt) const;
  Result<double> get_float_or(const std::string& key, double dflt) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace seer

// Reader for the safetensors format (github.com/huggingface/safetensors, README "Format"):
//   [u64 little-endian N][N bytes of JSON header][data section]
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}, offsets in
// bytes relative to the start of the data section; "__metadata__" (string -> string) is ignored.
// The file is memory-mapped read-only and tensors point into the mapping, so weights stay zero-copy.
// open() refuses anything but a regular file before opening it (a FIFO would block, a directory or
// a device cannot be mapped). Every field is checked at open(): a truncated file, invalid JSON, an
// unknown dtype, offsets outside the data section or a byte size that disagrees with shape x dtype
// give a Status naming the file, the tensor and the value. Tensors of a valid but unsupported dtype (I64, F64, ...) are listed with
// `dtype` empty, so a file carrying e.g. an integer buffer still opens; using one is an error, and the
// model loader (hf_model.cpp) refuses a tensor it does not use, apart from the buffers it names.
#pragma once

#include <seer/dtype.h>
#include <seer/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace seer {

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;      // as written in the file ("BF16", "I64", ...)
  std::optional<DType> dtype;  // F32 / F16 / BF16; empty for other safetensors dtypes
  std::vector<int64_t> shape;  // outermost first, as in PyTorch: shape.back() is the row length
  uint64_t offset = 0;         // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and parses `path`; all validation happens here.
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace seer

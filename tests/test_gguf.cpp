// GGUF reader, GGUF model loader and dtype conversion tests.
//  * An in-test GGUF writer builds valid files (every metadata type, arrays, every tensor type) that
//    must parse back exactly, and corrupt variants whose error must name the file, field and value
//    (including tensors laid out against ggml's rule, oversized metadata arrays, FIFOs).
//  * Dequantisation is compared bit for bit with tests/golden/dequant.bin, written by PyPI gguf
//    (scripts/golden/make_dequant_golden.py).
//  * fp16/bf16 conversions: exhaustive round trips, nearest-even property checks, F16C hardware.
//  * The real default model (skipped when absent): tensor types, config (DATA.md) and the llama Q/K
//    row un-permutation against tests/golden/smollm2_qk_rows.bin (scripts/golden/make_gguf_golden.py).
#include <gtest/gtest.h>
#include <seer/dtype.h>
#include <seer/gguf.h>
#include <seer/model.h>
#include <seer/tokenizer.h>

#include "test_util.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <functional>
#include <future>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace seer {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// A small GGUF writer. Fields can be overridden to produce corrupt files.

class Bytes {
 public:
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void put_str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void append(const std::vector<uint8_t>& o) { b.insert(b.end(), o.begin(), o.end()); }
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> dims;  // innermost first
  uint32_t type_id = 0;
  std::vector<uint8_t> data{};  // empty: sized and filled automatically from dims/type
  std::optional<uint64_t> offset{};
  std::optional<uint32_t> n_dims{};
  std::optional<uint64_t> name_len{};  // written instead of name.size()
};

// GGML type ids used in the files.
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 8, kBF16 = 30;

uint64_t type_bytes(uint32_t id, uint64_t numel) {
  switch (id) {
    case kF32: return numel * 4;
    case kF16: case kBF16: return numel * 2;
    case kQ8_0: return numel / 32 * 34;
    case kQ4_0: return numel / 32 * 18;
    case kQ4_1: return numel / 32 * 20;
  }
  return numel;
}

class GgufWriter {
 public:
  uint32_t version = 3;
  uint64_t alignment = 32;  // layout only; add a general.alignment key to declare it
  std::optional<uint64_t> tensor_count, kv_count;
  std::string magic = "GGUF";

  void kv_raw(const std::string& key, GgufType t, const std::vector<uint8_t>& payload) {
    Bytes e;
    e.put_str(key);
    e.put<uint32_t>(uint32_t(t));
    e.append(payload);
    kvs_.push_back(e.b);
  }
  // An entry written verbatim (to corrupt the key itself).
  void kv_verbatim(const std::vector<uint8_t>& entry) { kvs_.push_back(entry); }
  template <typename T>
  void kv(const std::string& key, GgufType t, T v) {
    Bytes p;
    p.put<T>(v);
    kv_raw(key, t, p.b);
  }
  void kv_str(const std::string& key, const std::string& v) {
    Bytes p;
    p.put_str(v);
    kv_raw(key, GgufType::kString, p.b);
  }
  void kv_arr_str(const std::string& key, const std::vector<std::string>& v) {
    Bytes p;
    p.put<uint32_t>(uint32_t(GgufType::kString));
    p.put<uint64_t>(v.size());
    for (const auto& s : v) p.put_str(s);
    kv_raw(key, GgufType::kArray, p.b);
  }
  template <typename T>
  void kv_arr(const std::string& key, GgufType elem, const std::vector<T>& v) {
    Bytes p;
    p.put<uint32_t>(uint32_t(elem));
    p.put<uint64_t>(v.size());
    for (const T& x : v) p.put<T>(x);
    kv_raw(key, GgufType::kArray, p.b);
  }
  void tensor(TensorSpec t) {
    if (t.data.empty()) {
      uint64_t numel = 1;
      for (uint64_t d : t.dims) numel *= d;
      t.data.resize(type_bytes(t.type_id, numel));
      std::mt19937 rng(uint32_t(tensors_.size() * 7919 + 1));
      for (auto& x : t.data) x = uint8_t(rng());
    }
    tensors_.push_back(std::move(t));
  }
  std::vector<TensorSpec>& tensors() { return tensors_; }

  std::vector<uint8_t> build() const {
    Bytes o;
    o.b.insert(o.b.end(), magic.begin(), magic.end());
    o.put<uint32_t>(version);
    o.put<uint64_t>(tensor_count.value_or(tensors_.size()));
    o.put<uint64_t>(kv_count.value_or(kvs_.size()));
    for (const auto& e : kvs_) o.append(e);
    std::vector<uint64_t> offsets;
    uint64_t off = 0;
    for (const auto& t : tensors_) {
      off = (off + alignment - 1) / alignment * alignment;
      offsets.push_back(off);
      off += t.data.size();
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const TensorSpec& t = tensors_[i];
      o.put<uint64_t>(t.name_len.value_or(t.name.size()));
      o.b.insert(o.b.end(), t.name.begin(), t.name.end());
      o.put<uint32_t>(t.n_dims.value_or(uint32_t(t.dims.size())));
      for (uint64_t d : t.dims) o.put<uint64_t>(d);
      o.put<uint32_t>(t.type_id);
      o.put<uint64_t>(t.offset.value_or(offsets[i]));
    }
    while (o.b.size() % alignment != 0) o.b.push_back(0);
    const size_t data_start = o.b.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      o.b.resize(data_start + offsets[i], 0);
      o.append(tensors_[i].data);
    }
    return o.b;
  }

 private:
  std::vector<std::vector<uint8_t>> kvs_;
  std::vector<TensorSpec> tensors_;
};

// Unwraps a Result in an expectation; a failure is reported and a default value returned.
template <typename T>
T val(Result<T> r) {
  if (!r.is_ok()) {
    ADD_FAILURE() << r.status().message();
    return T{};
  }
  return std::move(r).value();
}

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("seer_test_gguf_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// Removes the temporary files when the test program ends.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(temp_dir(), ec);
  }
};
[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const fs::path p = temp_dir() / name;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return p.string();
}

// A valid little file used as the base of the corruption cases.
GgufWriter base_writer() {
  GgufWriter w;
  w.kv_str("general.name", "tiny");
  w.kv<uint32_t>("general.alignment", GgufType::kUint32, 32);
  w.kv_arr_str("tok", {"a", "bc", ""});
  w.tensor({"w", {64, 3}, kQ4_1});
  w.tensor({"v", {5}, kF32});
  return w;
}

// ---------------------------------------------------------------------------------------------
// Round trip of a valid file.

TEST(Gguf, RoundTripAllTypes) {
  for (uint32_t version : {2u, 3u}) {
    GgufWriter w;
    w.version = version;
    w.alignment = 64;
    w.kv<uint8_t>("u8", GgufType::kUint8, 200);
    w.kv<int8_t>("i8", GgufType::kInt8, -100);
    w.kv<uint16_t>("u16", GgufType::kUint16, 60000);
    w.kv<int16_t>("i16", GgufType::kInt16, -30000);
    w.kv<uint32_t>("u32", GgufType::kUint32, 4000000000u);
    w.kv<int32_t>("i32", GgufType::kInt32, -2000000000);
    w.kv<float>("f32", GgufType::kFloat32, 1.5e-5f);
    w.kv<uint8_t>("bool", GgufType::kBool, 1);
    w.kv_str("str", "héllo\nworld");
    w.kv_str("empty_str", "");
    w.kv<uint64_t>("u64", GgufType::kUint64, 18000000000000000000ull);
    w.kv<int64_t>("i64", GgufType::kInt64, -9000000000000000000ll);
    w.kv<double>("f64", GgufType::kFloat64, 3.141592653589793);
    w.kv<uint64_t>("general.alignment", GgufType::kUint64, 64);
    w.kv_arr<uint8_t>("a_u8", GgufType::kUint8, {1, 2, 255});
    w.kv_arr<int8_t>("a_i8", GgufType::kInt8, {-1, 127});
    w.kv_arr<uint16_t>("a_u16", GgufType::kUint16, {65535});
    w.kv_arr<int16_t>("a_i16", GgufType::kInt16, {-32768, 5});
    w.kv_arr<uint32_t>("a_u32", GgufType::kUint32, {7, 4294967295u});
    w.kv_arr<int32_t>("a_i32", GgufType::kInt32, {-7, 3, 1, 4});
    w.kv_arr<uint64_t>("a_u64", GgufType::kUint64, {1ull << 40});
    w.kv_arr<int64_t>("a_i64", GgufType::kInt64, {-(1ll << 50)});
    w.kv_arr<float>("a_f32", GgufType::kFloat32, {0.25f, -2.0f});
    w.kv_arr<double>("a_f64", GgufType::kFloat64, {1e300});
    w.kv_arr<uint8_t>("a_bool", GgufType::kBool, {1, 0, 1});
    w.kv_arr_str("a_str", {"x", "", "yz"});
    w.kv_arr<int32_t>("a_empty", GgufType::kInt32, {});
    w.tensor({"t.f32", {7}, kF32});
    w.tensor({"t.f16", {3, 5}, kF16});
    w.tensor({"t.bf16", {2, 3, 4}, kBF16});
    w.tensor({"t.q8_0", {64, 3}, kQ8_0});
    w.tensor({"t.q4_0", {32, 2, 1, 3}, kQ4_0});
    w.tensor({"t.q4_1", {96, 2}, kQ4_1});
    const std::string path = write_file(fmt::format("roundtrip_v{}.gguf", version), w.build());

    auto r = GgufFile::open(path);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    const GgufFile& f = **r;
    EXPECT_EQ(f.version(), version);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.metadata().size(), 27u);
    EXPECT_EQ(val(f.get_int("u8")), 200);
    EXPECT_EQ(val(f.get_int("i8")), -100);
    EXPECT_EQ(val(f.get_int("u16")), 60000);
    EXPECT_EQ(val(f.get_int("i16")), -30000);
    EXPECT_EQ(val(f.get_int("u32")), 4000000000ll);
    EXPECT_EQ(val(f.get_int("i32")), -2000000000);
    EXPECT_EQ(val(f.get_float("f32")), double(1.5e-5f));
    EXPECT_EQ(val(f.get_bool("bool")), true);
    EXPECT_EQ(val(f.get_string("str")), "héllo\nworld");
    EXPECT_EQ(val(f.get_string("empty_str")), "");
    EXPECT_EQ(std::get<uint64_t>(f.find("u64")->scalar), 18000000000000000000ull);
    EXPECT_EQ(val(f.get_int("i64")), -9000000000000000000ll);
    EXPECT_EQ(val(f.get_float("f64")), 3.141592653589793);
    EXPECT_EQ(val(f.get_float("i32")), -2000000000.0);  // integers read as floats
    EXPECT_EQ(f.find("f32")->type, GgufType::kFloat32);

    auto arr = [&](const char* k) { return val(f.get_array(k)); };
    EXPECT_EQ(arr("a_u8")->ints, (std::vector<int64_t>{1, 2, 255}));
    EXPECT_EQ(arr("a_u8")->elem_type, GgufType::kUint8);
    EXPECT_EQ(arr("a_i8")->ints, (std::vector<int64_t>{-1, 127}));
    EXPECT_EQ(arr("a_u16")->ints, (std::vector<int64_t>{65535}));
    EXPECT_EQ(arr("a_i16")->ints, (std::vector<int64_t>{-32768, 5}));
    EXPECT_EQ(arr("a_u32")->ints, (std::vector<int64_t>{7, 4294967295ll}));
    EXPECT_EQ(arr("a_i32")->ints, (std::vector<int64_t>{-7, 3, 1, 4}));
    EXPECT_EQ(arr("a_u64")->ints, (std::vector<int64_t>{1ll << 40}));
    EXPECT_EQ(arr("a_i64")->ints, (std::vector<int64_t>{-(1ll << 50)}));
    EXPECT_EQ(arr("a_f32")->floats, (std::vector<double>{0.25, -2.0}));
    EXPECT_EQ(arr("a_f64")->floats, (std::vector<double>{1e300}));
    EXPECT_EQ(arr("a_bool")->ints, (std::vector<int64_t>{1, 0, 1}));
    EXPECT_EQ(arr("a_bool")->elem_type, GgufType::kBool);
    EXPECT_EQ(arr("a_str")->strings, (std::vector<std::string>{"x", "", "yz"}));
    EXPECT_EQ(arr("a_str")->elem_type, GgufType::kString);
    EXPECT_EQ(arr("a_empty")->array_size(), 0u);
    EXPECT_EQ(arr("a_i32")->array_size(), 4u);

    const std::vector<std::pair<DType, std::vector<int64_t>>> expect = {
        {DType::kF32, {7}},        {DType::kF16, {3, 5}},        {DType::kBF16, {2, 3, 4}},
        {DType::kQ8_0, {64, 3}},   {DType::kQ4_0, {32, 2, 1, 3}}, {DType::kQ4_1, {96, 2}},
    };
    ASSERT_EQ(f.tensors().size(), expect.size());
    for (size_t i = 0; i < expect.size(); ++i) {
      const TensorSpec& spec = w.tensors()[i];
      const GgufTensor* t = f.find_tensor(spec.name);
      ASSERT_NE(t, nullptr) << spec.name;
      EXPECT_EQ(t, &f.tensors()[i]);
      EXPECT_EQ(t->dtype, expect[i].first) << spec.name;
      EXPECT_EQ(t->shape, expect[i].second) << spec.name;
      EXPECT_EQ(t->nbytes, spec.data.size()) << spec.name;
      EXPECT_EQ(t->offset % 64, 0u);
      EXPECT_EQ((t->data - reinterpret_cast<const uint8_t*>(0)) % 64, 0) << "data section aligned";
      EXPECT_EQ(std::memcmp(t->data, spec.data.data(), spec.data.size()), 0) << spec.name;
    }
    EXPECT_EQ(f.find_tensor("t.q4_1")->numel(), 192);
    EXPECT_EQ(f.find_tensor("nope"), nullptr);
    EXPECT_EQ(f.find("nope"), nullptr);
  }
}

TEST(Gguf, DefaultAlignmentAndNoTensors) {
  GgufWriter w;
  w.kv_str("general.architecture", "llama");
  auto r = GgufFile::open(write_file("no_tensors.gguf", w.build()));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)->alignment(), 32u);
  EXPECT_TRUE((*r)->tensors().empty());
}

TEST(Gguf, TypedGetterErrors) {
  GgufWriter w = base_writer();
  w.kv<float>("flt", GgufType::kFloat32, 2.0f);
  w.kv<uint64_t>("big", GgufType::kUint64, ~0ull);
  const std::string path = write_file("getters.gguf", w.build());
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const GgufFile& f = **r;
  auto expect_err = [&](const Status& s, std::vector<std::string> parts) {
    ASSERT_FALSE(s.is_ok());
    parts.push_back("getters.gguf");
    for (const auto& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.message() << " lacks " << p;
  };
  expect_err(f.get_int("missing").status(), {"'missing'"});
  expect_err(f.get_int("general.name").status(), {"'general.name'", "string"});
  expect_err(f.get_int("flt").status(), {"'flt'", "float32"});
  expect_err(f.get_int("big").status(), {"'big'", "18446744073709551615"});
  expect_err(f.get_string("general.alignment").status(), {"'general.alignment'", "uint32"});
  expect_err(f.get_bool("general.name").status(), {"'general.name'"});
  expect_err(f.get_array("general.name").status(), {"'general.name'"});
  expect_err(f.get_string("tok").status(), {"'tok'", "array"});
  expect_err(f.get_float("general.name").status(), {"'general.name'"});
  expect_err(f.get_int_or("general.name", 3).status(), {"'general.name'"});
  expect_err(f.get_float_or("general.name", 3).status(), {"'general.name'"});
  EXPECT_EQ(val(f.get_int_or("missing", 42)), 42);
  EXPECT_EQ(val(f.get_float_or("missing", 0.5)), 0.5);
  EXPECT_EQ(val(f.get_float_or("flt", 0.5)), 2.0);
  EXPECT_EQ(val(f.get_int_or("general.alignment", 1)), 32);
}

// ---------------------------------------------------------------------------------------------
// Corruptions: each must fail with a message naming the file, the field and the value.

struct Corruption {
  std::string name;
  std::function<std::vector<uint8_t>()> make;
  std::vector<std::string> expect;  // substrings besides the file name
};

std::vector<uint8_t> u64_bytes(uint64_t v) {
  Bytes b;
  b.put<uint64_t>(v);
  return b.b;
}

std::vector<Corruption> corruptions() {
  std::vector<Corruption> c;
  auto with = [](std::function<void(GgufWriter&)> f) {
    return [f] {
      GgufWriter w = base_writer();
      f(w);
      return w.build();
    };
  };
  c.push_back({"bad_magic", with([](GgufWriter& w) { w.magic = "GGUX"; }), {"magic", "47 47 55 58"}});
  c.push_back({"version_1", with([](GgufWriter& w) { w.version = 1; }), {"version 1"}});
  c.push_back({"version_4", with([](GgufWriter& w) { w.version = 4; }), {"version 4"}});
  c.push_back({"kv_count_huge", with([](GgufWriter& w) { w.kv_count = 1ull << 40; }),
               {"key/value count", "1099511627776"}});
  c.push_back({"kv_count_too_big_by_one", with([](GgufWriter& w) { w.kv_count = 4; }), {}});
  c.push_back({"tensor_count_huge", with([](GgufWriter& w) { w.tensor_count = 1ull << 40; }),
               {"tensor count", "1099511627776"}});
  c.push_back({"tensor_count_too_big_by_one", with([](GgufWriter& w) { w.tensor_count = 3; }), {}});
  c.push_back({"key_length_huge", with([](GgufWriter& w) {
                 Bytes e;
                 e.put<uint64_t>(999999999999ull);
                 e.b.insert(e.b.end(), {'a', 'b', 'c', 'd'});
                 w.kv_verbatim(e.b);
               }),
               {"key of metadata entry 3", "string length 999999999999"}});
  c.push_back({"string_value_length_huge",
               with([](GgufWriter& w) { w.kv_raw("s", GgufType::kString, u64_bytes(1ull << 60)); }),
               {"value of key 's'", "string length 1152921504606846976"}});
  c.push_back({"string_value_truncated", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint64_t>(10000);  // more than the rest of this (small) file
                 p.b.insert(p.b.end(), {'x', 'y'});
                 w.kv_raw("s", GgufType::kString, p.b);
               }),
               {"value of key 's'", "string length 10000"}});
  c.push_back({"array_count_huge", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint32_t>(uint32_t(GgufType::kUint32));
                 p.put<uint64_t>(1ull << 50);
                 w.kv_raw("arr", GgufType::kArray, p.b);
               }),
               {"key 'arr'", "array length 1125899906842624"}});
  c.push_back({"string_array_count_huge", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint32_t>(uint32_t(GgufType::kString));
                 p.put<uint64_t>(1ull << 61);
                 w.kv_raw("arr", GgufType::kArray, p.b);
               }),
               {"key 'arr'", "array length 2305843009213693952"}});
  c.push_back({"string_in_array_length_huge", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint32_t>(uint32_t(GgufType::kString));
                 p.put<uint64_t>(2);
                 p.put_str("ok");
                 p.put<uint64_t>(777777777777ull);
                 w.kv_raw("arr", GgufType::kArray, p.b);
               }),
               {"element 1 of key 'arr'", "string length 777777777777"}});
  c.push_back({"invalid_value_type",
               with([](GgufWriter& w) { w.kv_raw("k", GgufType(13), {0, 0, 0, 0}); }),
               {"key 'k'", "invalid value type 13"}});
  c.push_back({"invalid_array_elem_type", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint32_t>(77);
                 p.put<uint64_t>(1);
                 w.kv_raw("arr", GgufType::kArray, p.b);
               }),
               {"key 'arr'", "element type 77"}});
  c.push_back({"nested_array", with([](GgufWriter& w) {
                 Bytes p;
                 p.put<uint32_t>(uint32_t(GgufType::kArray));
                 p.put<uint64_t>(0);
                 w.kv_raw("arr", GgufType::kArray, p.b);
               }),
               {"key 'arr'", "nested"}});
  c.push_back({"duplicate_key", with([](GgufWriter& w) { w.kv_str("general.name", "again"); }),
               {"duplicate", "'general.name'"}});
  c.push_back({"alignment_not_power_of_two", [] {
                 GgufWriter w;
                 w.kv<uint32_t>("general.alignment", GgufType::kUint32, 48);
                 w.tensor({"v", {5}, kF32});
                 return w.build();
               },
               {"'general.alignment'", "48", "power of two"}});
  c.push_back({"alignment_zero", [] {
                 GgufWriter w;
                 w.kv<uint32_t>("general.alignment", GgufType::kUint32, 0);
                 return w.build();
               },
               {"'general.alignment'", "value 0"}});
  c.push_back({"alignment_below_8", [] {  // GGUF asks for a multiple of 8; 1 made the reads misaligned (fuzzing)
                 GgufWriter w;
                 w.alignment = 1;
                 w.kv<uint32_t>("general.alignment", GgufType::kUint32, 1);
                 w.tensor({"v", {5}, kF32});
                 return w.build();
               },
               {"'general.alignment'", "value 1", "at least 8"}});
  c.push_back({"alignment_wrong_type", [] {
                 GgufWriter w;
                 w.kv_str("general.alignment", "32");
                 return w.build();
               },
               {"'general.alignment'", "string"}});
  c.push_back({"tensor_name_length_huge", with([](GgufWriter& w) { w.tensors()[1].name_len = 1ull << 33; }),
               {"name of tensor 1", "string length 8589934592"}});
  c.push_back({"n_dims_zero", with([](GgufWriter& w) { w.tensors()[0].n_dims = 0; }),
               {"tensor 'w'", "n_dims 0"}});
  c.push_back({"n_dims_five", with([](GgufWriter& w) {
                 w.tensors()[0].n_dims = 5;
                 w.tensors()[0].dims = {64, 3, 1, 1, 1};
               }),
               {"tensor 'w'", "n_dims 5"}});
  c.push_back({"dim_zero", with([](GgufWriter& w) { w.tensors()[0].dims = {64, 0}; }),
               {"tensor 'w'", "dimension 1", "size 0"}});
  c.push_back({"dim_negative", with([](GgufWriter& w) { w.tensors()[0].dims = {64, ~0ull}; }),
               {"tensor 'w'", "dimension 1", "18446744073709551615"}});
  c.push_back({"dims_product_overflow", with([](GgufWriter& w) {
                 w.tensors()[0].dims = {1ull << 32, 1ull << 20, 1ull << 20};
               }),
               {"tensor 'w'", "overflow", "dimension 2", "1048576"}});
  c.push_back({"row_not_multiple_of_block", with([](GgufWriter& w) { w.tensors()[0].dims = {48, 3}; }),
               {"tensor 'w'", "row length 48", "Q4_1", "32"}});
  c.push_back({"unsupported_type", with([](GgufWriter& w) { w.tensors()[0].type_id = 12; }),
               {"tensor 'w'", "type id 12"}});
  c.push_back({"unknown_type", with([](GgufWriter& w) { w.tensors()[1].type_id = 4000000000u; }),
               {"tensor 'v'", "type id 4000000000"}});
  c.push_back({"offset_not_aligned", with([](GgufWriter& w) { w.tensors()[1].offset = 8; }),
               {"tensor 'v'", "offset 8", "alignment 32"}});
  c.push_back({"offset_beyond_file", with([](GgufWriter& w) { w.tensors()[1].offset = 1ull << 20; }),
               {"tensor 'v'", "offset 1048576", "size 20", "extends beyond the end of the file"}});
  c.push_back({"offset_wraps", with([](GgufWriter& w) { w.tensors()[1].offset = ~0ull - 31; }),
               {"tensor 'v'", "offset 18446744073709551584", "extends beyond"}});
  c.push_back({"size_beyond_file", with([](GgufWriter& w) {
                 w.tensors()[1].data.resize(8);  // 2 floats written, 5 declared, v is last
               }),
               {"tensor 'v'", "size 20", "extends beyond the end of the file"}});
  c.push_back({"duplicate_tensor", with([](GgufWriter& w) { w.tensor({"w", {32}, kF32}); }),
               {"duplicate tensor name 'w'"}});
  // ggml's layout rule: each tensor where the previous one ends, rounded up to the alignment, the
  // first at 0. 'w' is Q4_1 [64, 3]: 120 bytes, so 'v' belongs at 128. (Only the bounds were
  // checked before: all of these loaded.)
  c.push_back({"tensors_overlap", with([](GgufWriter& w) { w.tensors()[1].offset = 0; }),
               {"tensor 'v' has offset 0, expected 128", "tensors overlap", "'w' (Q4_1 [64, 3], 120 bytes at offset 0)"}});
  // (a third tensor keeps the moved ones inside the file, where only the layout rule catches them)
  c.push_back({"gap_between_tensors", with([](GgufWriter& w) {
                 w.tensor({"z", {64}, kF32});
                 w.tensors()[1].offset = 160;
               }),
               {"tensor 'v' has offset 160, expected 128"}});
  c.push_back({"first_tensor_not_at_0", with([](GgufWriter& w) {
                 w.tensor({"z", {64}, kF32});
                 w.tensors()[0].offset = 32;
               }),
               {"tensor 'w' has offset 32, expected 0", "the first tensor starts at 0"}});
  // A type relabelled without re-encoding the data: the bytes stay those of the old type. (Q4_1
  // [256, 4] is 640 bytes, as Q4_0 576; an F32 vector of 64 is 256 bytes, as F16 128.)
  c.push_back({"q4_1_relabelled_q4_0", [] {
                 GgufWriter w;
                 w.tensor({"a", {256, 4}, kQ4_0, std::vector<uint8_t>(640, 7)});
                 w.tensor({"b", {8}, kF32});
                 return w.build();
               },
               {"tensor 'b' has offset 640, expected 576", "'a' (Q4_0 [256, 4], 576 bytes at offset 0)",
                "a type/shape does not match the data"}});
  c.push_back({"f32_relabelled_f16", [] {
                 GgufWriter w;
                 w.tensor({"norm", {64}, kF16, std::vector<uint8_t>(256, 0)});
                 w.tensor({"b", {8}, kF32});
                 return w.build();
               },
               {"tensor 'b' has offset 256, expected 128", "'norm' (F16 [64], 128 bytes at offset 0)"}});
  return c;
}

TEST(Gguf, CorruptFilesGiveClearErrors) {
  {  // the base file itself is valid
    auto r = GgufFile::open(write_file("base.gguf", base_writer().build()));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
  }
  for (const Corruption& c : corruptions()) {
    SCOPED_TRACE(c.name);
    const std::string file = "corrupt_" + c.name + ".gguf";
    auto r = GgufFile::open(write_file(file, c.make()));
    ASSERT_FALSE(r.is_ok()) << c.name << " was accepted";
    const std::string& msg = r.status().message();
    if (std::getenv("SEER_TEST_VERBOSE") != nullptr) std::printf("%s\n", msg.c_str());
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    for (const auto& e : c.expect) EXPECT_NE(msg.find(e), std::string::npos) << msg << "\n  lacks: " << e;
  }
}

TEST(Gguf, TruncatedAnywhere) {
  const std::vector<uint8_t> full = base_writer().build();
  const std::string file = "truncated.gguf";
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> part(full.begin(), full.begin() + n);
    auto r = GgufFile::open(write_file(file, part));
    ASSERT_FALSE(r.is_ok()) << "prefix of " << n << " bytes accepted";
    const std::string& msg = r.status().message();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    const bool named = msg.find("truncated") != std::string::npos || msg.find("exceeds") != std::string::npos ||
                       msg.find("extends beyond") != std::string::npos;
    EXPECT_TRUE(named) << n << ": " << msg;
  }
  // A message for a cut inside a string names the string's field and the lengths.
  GgufWriter w;
  w.kv_str("general.name", "a fairly long model name");
  std::vector<uint8_t> b = w.build();
  const std::string name = "a fairly long model name";
  b.resize(size_t(std::search(b.begin(), b.end(), name.begin(), name.end()) - b.begin()) + 10);
  auto r = GgufFile::open(write_file(file, b));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("value of key 'general.name'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("string length 24"), std::string::npos) << r.status().message();
}

TEST(Gguf, RandomByteFlipsNeverCrash) {
  const std::vector<uint8_t> full = base_writer().build();
  std::mt19937 rng(1234);
  int rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = full;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % std::min<size_t>(b.size(), 256)] ^= uint8_t(1u << (rng() % 8));
    auto r = GgufFile::open(write_file("flipped.gguf", b));
    if (!r.is_ok()) {
      ++rejected;
      EXPECT_NE(r.status().message().find("flipped.gguf"), std::string::npos) << r.status().message();
    } else {
      for (const GgufTensor& t : (*r)->tensors()) {  // anything accepted lies inside the file
        EXPECT_LE(t.offset + t.nbytes, (*r)->file_size()) << t.name;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(Gguf, MissingFileAndDirectory) {
  auto r = GgufFile::open((temp_dir() / "does_not_exist.gguf").string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("does_not_exist.gguf"), std::string::npos);
  auto d = GgufFile::open(temp_dir().string());
  ASSERT_FALSE(d.is_ok());
  auto e = GgufFile::open(write_file("empty.gguf", {}));
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("empty.gguf"), std::string::npos);
  auto m = load_model((temp_dir() / "nothing_here").string());
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("nothing_here"), std::string::npos) << m.status().message();
}

// A FIFO blocked open() forever (the regular-file check came after it); /dev/zero is a device.
TEST(Gguf, FifoAndDeviceRefusedPromptly) {
  const std::string fifo = (temp_dir() / "fifo.gguf").string();
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  for (bool whole_model : {false, true}) {
    SCOPED_TRACE(whole_model ? "load_model" : "GgufFile::open");
    const Status s = test::run_against_fifo(fifo, [&] {
      return whole_model ? load_model(fifo).status() : GgufFile::open(fifo).status();
    });
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find(fifo + ": not a regular file"), std::string::npos) << s.message();
  }
  const std::string zero = (temp_dir() / "zero.gguf").string();
  fs::remove(zero);
  fs::create_symlink("/dev/zero", zero);
  auto z = GgufFile::open(zero);
  ASSERT_FALSE(z.is_ok());
  EXPECT_NE(z.status().message().find(zero + ": not a regular file"), std::string::npos) << z.status().message();
}

// A metadata array of 2^28 uint8 (a sparse file) took 22 s and 2.3 GB, one of 2^30 threw
// std::bad_alloc: each element was widened to int64 and named with its own formatted string.
TEST(Gguf, MetadataArraysAreBounded) {
  // A file of uint8 arrays of `counts` elements (all zero), and nothing else. The last array's
  // elements are a hole of the sparse file.
  auto array_file = [](const std::string& name, const std::vector<uint64_t>& counts) {
    Bytes o;
    o.b = {'G', 'G', 'U', 'F'};
    o.put<uint32_t>(3);
    o.put<uint64_t>(0);              // tensors
    o.put<uint64_t>(counts.size());  // key/values
    for (size_t i = 0; i < counts.size(); ++i) {
      o.put_str(fmt::format("arr{}", i));
      o.put<uint32_t>(uint32_t(GgufType::kArray));
      o.put<uint32_t>(uint32_t(GgufType::kUint8));
      o.put<uint64_t>(counts[i]);
      if (i + 1 < counts.size()) o.b.resize(o.b.size() + counts[i], 0);
    }
    const std::string path = write_file(name, o.b);
    fs::resize_file(path, o.b.size() + counts.back());
    return path;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const std::string big = array_file("array_2e28.gguf", {uint64_t(1) << 28});
  auto r = GgufFile::open(big);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("array_2e28.gguf: key 'arr0': array length 268435456 of uint8"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("16777216"), std::string::npos) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));

  // The limit holds for the arrays of a file in all; an array of exactly the limit is read.
  const std::string at_limit = array_file("array_at_limit.gguf", {kGgufMaxArrayElems});
  auto ok = GgufFile::open(at_limit);
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(val((*ok)->get_array("arr0"))->ints.size(), kGgufMaxArrayElems);
  const std::string over = array_file("array_over_in_all.gguf", {kGgufMaxArrayElems - 4, 5});
  auto r2 = GgufFile::open(over);
  ASSERT_FALSE(r2.is_ok());
  EXPECT_NE(r2.status().message().find("key 'arr1': array length 5 of uint8"), std::string::npos) << r2.status().message();
  EXPECT_NE(r2.status().message().find("16777212 read before"), std::string::npos) << r2.status().message();
}

// ---------------------------------------------------------------------------------------------
// Dequantisation against gguf-py (tests/golden/dequant.bin).

TEST(Dtype, DequantizeMatchesGgufPy) {
  const std::string path = std::string(SEER_SOURCE_DIR) + "/tests/golden/dequant.bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing " << path << " (scripts/golden/make_dequant_golden.py)";
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto u32 = [&]() {
    uint32_t v = 0;
    if (pos + 4 <= buf.size()) std::memcpy(&v, buf.data() + pos, 4);
    pos += 4;
    return v;
  };
  ASSERT_EQ(u32(), 0x51445345u) << "bad magic";
  ASSERT_EQ(u32(), 1u) << "unsupported golden version";
  const uint32_t n_cases = u32();
  ASSERT_EQ(n_cases, 8u);
  std::map<DType, int> seen;
  for (uint32_t c = 0; c < n_cases; ++c) {
    const uint32_t type_id = u32(), n = u32(), nbytes = u32();
    ASSERT_LE(pos + nbytes + size_t(n) * 4, buf.size());
    DType t;
    switch (type_id) {
      case kF16: t = DType::kF16; break;
      case kBF16: t = DType::kBF16; break;
      case kQ8_0: t = DType::kQ8_0; break;
      case kQ4_0: t = DType::kQ4_0; break;
      case kQ4_1: t = DType::kQ4_1; break;
      default: FAIL() << "unexpected type " << type_id;
    }
    ASSERT_EQ(dtype_row_bytes(t, n), nbytes) << dtype_name(t);
    std::vector<uint8_t> raw(buf.begin() + long(pos), buf.begin() + long(pos + nbytes));
    pos += nbytes;
    std::vector<uint32_t> want(n);
    std::memcpy(want.data(), buf.data() + pos, size_t(n) * 4);
    pos += size_t(n) * 4;
    std::vector<float> got(n, std::numeric_limits<float>::quiet_NaN());
    dequantize_row(t, raw.data(), got.data(), n);
    int bad = 0;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t g;
      std::memcpy(&g, &got[i], 4);
      if (g != want[i] && bad++ < 5) {
        float wf;
        std::memcpy(&wf, &want[i], 4);
        ADD_FAILURE() << dtype_name(t) << " case " << c << " element " << i << ": got " << got[i] << " (0x"
                      << std::hex << g << "), want " << wf << " (0x" << want[i] << std::dec << ")";
      }
    }
    EXPECT_EQ(bad, 0) << dtype_name(t) << " case " << c;
    seen[t]++;
  }
  EXPECT_EQ(pos, buf.size());
  EXPECT_EQ(seen.size(), 5u);
}

TEST(Dtype, DequantizeF32AndNames) {
  const float src[3] = {1.0f, -2.5f, 1e-30f};
  float dst[3];
  dequantize_row(DType::kF32, src, dst, 3);
  EXPECT_EQ(std::memcmp(src, dst, sizeof(src)), 0);
  EXPECT_EQ(dtype_name(DType::kQ4_1), "Q4_1");
  EXPECT_EQ(dtype_name(DType::kBF16), "BF16");
  EXPECT_EQ(dtype_row_bytes(DType::kQ8_0, 64), 68u);
}

// ---------------------------------------------------------------------------------------------
// fp16 / bf16 conversions.

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Dtype, Fp16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    ASSERT_EQ(std::isnan(f), nan) << std::hex << h;
    if (nan) {
      EXPECT_EQ(fp32_to_fp16(f), uint16_t(h | 0x200)) << std::hex << h;  // quieted, payload kept
    } else {
      ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
    }
#if defined(__F16C__)
    EXPECT_EQ(bits(f), bits(_cvtsh_ss(uint16_t(h)))) << std::hex << h;
#endif
  }
  // The vectorised row conversion agrees with the scalar one on every value.
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = uint16_t(h);
  std::vector<float> row(65536);
  dequantize_row(DType::kF16, all.data(), row.data(), 65536);
  for (uint32_t h = 0; h < 65536; ++h) ASSERT_EQ(bits(row[h]), bits(fp16_to_fp32(uint16_t(h)))) << std::hex << h;
  // Values of every class, exact.
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x03ff), std::ldexp(1023.0f, -24));       // largest subnormal
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);
}

TEST(Dtype, Fp32ToFp16RoundsToNearestEven) {
  struct Case {
    float in;
    uint16_t out;
  };
  const Case cases[] = {
      {1.0f, 0x3c00},
      {from_bits(0x3f801000), 0x3c00},        // 1 + 2^-11: tie, down to even
      {from_bits(0x3f803000), 0x3c02},        // 1 + 3*2^-11: tie, up to even
      {from_bits(0x3f801001), 0x3c01},        // just above the tie
      {65504.0f, 0x7bff},
      {65519.99f, 0x7bff},
      {65520.0f, 0x7c00},                     // tie between max and 2^16: even -> inf
      {1e10f, 0x7c00},
      {-1e10f, 0xfc00},
      {std::ldexp(1.0f, -24), 0x0001},
      {std::ldexp(1.0f, -25), 0x0000},        // tie: to even (zero)
      {std::ldexp(1.5f, -25), 0x0001},
      {std::ldexp(3.0f, -25), 0x0002},        // 1.5 * 2^-24: tie, up to even 2
      {std::ldexp(1.0f, -26), 0x0000},
      {-std::ldexp(1.0f, -24), 0x8001},
      {std::ldexp(1023.5f, -24), 0x0400},     // rounds up out of the subnormals
      {std::ldexp(1.0f, -14), 0x0400},
      {1e-45f, 0x0000},                       // fp32 subnormal
      {-0.0f, 0x8000},
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
  };
  for (const Case& c : cases) EXPECT_EQ(fp32_to_fp16(c.in), c.out) << c.in << " 0x" << std::hex << bits(c.in);
  const uint16_t n = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(from_bits(0xff800001)))));  // signalling NaN stays NaN

  // Property: the result is the nearest half, ties to even; plus F16C agreement where available.
  std::mt19937 rng(99);
  for (int i = 0; i < 400000; ++i) {
    // Exponents from deep subnormal to beyond the half range, random mantissa and sign.
    const uint32_t e = 95 + rng() % 50;  // 2^-32 .. 2^17
    const float f = from_bits((rng() & 0x80000000u) | (e << 23) | (rng() & 0x7fffff));
    const uint16_t h = fp32_to_fp16(f);
#if defined(__F16C__)
    ASSERT_EQ(h, _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)) << f;
#endif
    if ((h & 0x7fff) == 0x7c00) {
      ASSERT_GE(std::fabs(double(f)), 65520.0) << f;
      continue;
    }
    const double err = std::fabs(double(fp16_to_fp32(h)) - double(f));
    for (int dlt : {-1, 1}) {
      const uint16_t nb = uint16_t((h & 0x7fff) + dlt) | (h & 0x8000);
      if ((h & 0x7fff) == 0 && dlt < 0) continue;
      const double nerr = std::fabs(double(fp16_to_fp32(nb)) - double(f));
      ASSERT_TRUE(err < nerr || (err == nerr && (h & 1) == 0)) << f << " -> " << std::hex << h;
    }
  }
}

TEST(Dtype, Bf16Conversions) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(uint16_t(h));
    EXPECT_EQ(bits(f), h << 16);
    if (std::isnan(f)) {
      EXPECT_EQ(fp32_to_bf16(f), uint16_t(h | 0x40));
    } else {
      ASSERT_EQ(fp32_to_bf16(f), h) << std::hex << h;
    }
  }
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808000)), 0x3f80);  // tie, even
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f818000)), 0x3f82);  // tie, up to even
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3f808001)), 0x3f81);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00008000)), 0x0000);  // fp32 subnormal tie -> 0
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000)), 0x0002);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);  // max float overflows to inf
  EXPECT_EQ(fp32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(from_bits(0x7f800001)))));  // NaN never becomes inf
}

// ---------------------------------------------------------------------------------------------
// Synthetic models through load_gguf_model.

struct TinyArch {
  std::string arch = "llama";
  int hidden = 64, ffn = 96, layers = 2, heads = 4, kv_heads = 2, head_dim = 16, vocab = 260;
  int heads_in_key = -1;  // written as head_count instead of `heads` when >= 0
  int block_count = -1;   // written as block_count instead of `layers` when >= 0 (the tensors stay `layers`)
  double rms_eps = double(1e-6f), freq_base = 500000.0;  // float32 keys when a float holds them, else float64
};

// A float key as float32 when the value survives the narrowing, else as float64.
void kv_number(GgufWriter& w, const std::string& key, double v) {
  if (double(float(v)) == v || std::isinf(v)) {
    w.kv<float>(key, GgufType::kFloat32, float(v));
  } else {
    w.kv<double>(key, GgufType::kFloat64, v);
  }
}

// GPT-2 byte-level vocabulary: the 256 byte symbols, then a few merged tokens.
void add_tokenizer(GgufWriter& w, int vocab) {
  std::vector<std::string> tokens;
  auto cp_utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else {
      s += char(0xc0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3f));
    }
    return s;
  };
  uint32_t extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    tokens.push_back(cp_utf8(printable ? uint32_t(b) : 256 + extra++));
  }
  std::vector<std::string> merges = {"a b", "c d", "ab cd"};
  tokens.push_back("ab");
  tokens.push_back("cd");
  tokens.push_back("abcd");
  while (int(tokens.size()) < vocab) tokens.push_back("<|extra" + std::to_string(tokens.size()) + "|>");
  std::vector<int32_t> types(tokens.size(), 1);
  for (int i = 259; i < vocab; ++i) types[size_t(i)] = 3;
  w.kv_str("tokenizer.ggml.model", "gpt2");
  w.kv_str("tokenizer.ggml.pre", "gpt2");
  w.kv_arr_str("tokenizer.ggml.tokens", tokens);
  w.kv_arr<int32_t>("tokenizer.ggml.token_type", GgufType::kInt32, types);
  w.kv_arr_str("tokenizer.ggml.merges", merges);
  w.kv<uint32_t>("tokenizer.ggml.bos_token_id", GgufType::kUint32, 259);
  w.kv<uint32_t>("tokenizer.ggml.eos_token_id", GgufType::kUint32, 259);
}

// Q/K rows of tiny models are F32 with every element of GGUF row r equal to r, so the loaded
// order can be read off directly.
std::vector<uint8_t> row_index_matrix(int rows, int cols) {
  std::vector<float> v(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) v[size_t(r) * cols + c] = float(r);
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> f32_vector(int n, float base) {
  std::vector<uint8_t> b(size_t(n) * 4);
  for (int i = 0; i < n; ++i) {
    const float x = base + float(i);
    std::memcpy(b.data() + size_t(i) * 4, &x, 4);
  }
  return b;
}

GgufWriter tiny_model(const TinyArch& a, bool tied = true) {
  GgufWriter w;
  const std::string& p = a.arch;
  w.kv_str("general.architecture", p);
  w.kv_str("general.name", "tiny-" + p);
  w.kv<uint32_t>(p + ".embedding_length", GgufType::kUint32, uint32_t(a.hidden));
  w.kv<uint32_t>(p + ".feed_forward_length", GgufType::kUint32, uint32_t(a.ffn));
  w.kv<uint32_t>(p + ".block_count", GgufType::kUint32, uint32_t(a.block_count >= 0 ? a.block_count : a.layers));
  w.kv<uint32_t>(p + ".attention.head_count", GgufType::kUint32,
                 uint32_t(a.heads_in_key >= 0 ? a.heads_in_key : a.heads));
  w.kv<uint32_t>(p + ".attention.head_count_kv", GgufType::kUint32, uint32_t(a.kv_heads));
  if (a.head_dim != a.hidden / a.heads) {
    w.kv<uint32_t>(p + ".attention.key_length", GgufType::kUint32, uint32_t(a.head_dim));
  }
  w.kv<uint32_t>(p + ".context_length", GgufType::kUint32, 2048);
  kv_number(w, p + ".attention.layer_norm_rms_epsilon", a.rms_eps);
  kv_number(w, p + ".rope.freq_base", a.freq_base);
  add_tokenizer(w, a.vocab);
  const uint64_t h = uint64_t(a.hidden), ff = uint64_t(a.ffn), q = uint64_t(a.heads * a.head_dim),
                 kv = uint64_t(a.kv_heads * a.head_dim);
  w.tensor({"token_embd.weight", {h, uint64_t(a.vocab)}, kQ8_0});
  w.tensor({"output_norm.weight", {h}, kF32});
  if (!tied) w.tensor({"output.weight", {h, uint64_t(a.vocab)}, kQ4_0});
  for (int i = 0; i < a.layers; ++i) {
    auto n = [i](const char* s) { return fmt::format("blk.{}.{}", i, s); };
    w.tensor({n("attn_norm.weight"), {h}, kF16});  // norms in F16 are converted to F32
    w.tensor({n("attn_q.weight"), {h, q}, kF32, row_index_matrix(int(q), int(h))});
    w.tensor({n("attn_k.weight"), {h, kv}, kF32, row_index_matrix(int(kv), int(h))});
    w.tensor({n("attn_v.weight"), {h, kv}, kQ4_1});
    w.tensor({n("attn_output.weight"), {q, h}, kQ4_1});
    if (a.arch == "qwen2") {
      w.tensor({n("attn_q.bias"), {q}, kF32, f32_vector(int(q), 0)});
      w.tensor({n("attn_k.bias"), {kv}, kF32, f32_vector(int(kv), 0)});
      w.tensor({n("attn_v.bias"), {kv}, kBF16});
    }
    if (a.arch == "qwen3") {
      w.tensor({n("attn_q_norm.weight"), {uint64_t(a.head_dim)}, kF32});
      w.tensor({n("attn_k_norm.weight"), {uint64_t(a.head_dim)}, kF32});
    }
    w.tensor({n("ffn_norm.weight"), {h}, kF32, f32_vector(a.hidden, 0.5f)});
    w.tensor({n("ffn_gate.weight"), {h, ff}, kQ4_1});
    w.tensor({n("ffn_up.weight"), {h, ff}, kQ8_0});
    w.tensor({n("ffn_down.weight"), {ff, h}, kQ4_0});
  }
  return w;
}

TEST(GgufModel, TinyLlamaUnpermutesQK) {
  TinyArch a;
  const std::string path = write_file("tiny_llama.gguf", tiny_model(a).build());
  auto r = load_gguf_model(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Model& m = *r;
  const ModelConfig& c = m.config;
  EXPECT_EQ(m.format, "gguf");
  EXPECT_EQ(m.name, "tiny-llama");
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 96);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_qo_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 260);
  EXPECT_EQ(c.max_position, 2048);
  EXPECT_EQ(c.rms_eps, 1e-6f);
  EXPECT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::kNone);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(m.weights.output.data, m.weights.tok_embd.data);
  EXPECT_EQ(m.weights.tok_embd.dtype, DType::kQ8_0);
  EXPECT_EQ(m.weights.tok_embd.rows, 260);
  EXPECT_EQ(m.weights.tok_embd.cols, 64);
  ASSERT_NE(m.tokenizer, nullptr);
  for (const LayerWeights& l : m.weights.layers) {
    EXPECT_EQ(l.attn_norm.dtype, DType::kF32);
    EXPECT_EQ(l.ffn_norm.f32()[3], 3.5f);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(l.attn_norm.data) % 64, 0u);
    // HF row h*d + j*d/2 + i must hold GGUF row h*d + 2i + j.
    for (const auto& [wt, heads] : {std::pair{&l.wq, a.heads}, std::pair{&l.wk, a.kv_heads}}) {
      ASSERT_EQ(wt->rows, int64_t(heads) * a.head_dim);
      for (int hh = 0; hh < heads; ++hh)
        for (int j = 0; j < 2; ++j)
          for (int i = 0; i < a.head_dim / 2; ++i) {
            const float* row = reinterpret_cast<const float*>(wt->row(hh * a.head_dim + j * a.head_dim / 2 + i));
            ASSERT_EQ(row[0], float(hh * a.head_dim + 2 * i + j));
            ASSERT_EQ(row[a.hidden - 1], float(hh * a.head_dim + 2 * i + j));
          }
    }
  }
}

TEST(GgufModel, TinyQwen2KeepsOrderAndConvertsBiases) {
  TinyArch a;
  a.arch = "qwen2";
  const std::string path = write_file("tiny_qwen2.gguf", tiny_model(a, /*tied=*/false).build());
  auto r = load_gguf_model(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Model& m = *r;
  EXPECT_EQ(m.config.arch, Arch::kQwen2);
  EXPECT_TRUE(m.config.qkv_bias);
  EXPECT_FALSE(m.config.tied_embeddings);
  EXPECT_EQ(m.weights.output.dtype, DType::kQ4_0);
  EXPECT_NE(m.weights.output.data, m.weights.tok_embd.data);
  const LayerWeights& l = m.weights.layers[1];
  for (int r2 = 0; r2 < 64; ++r2) EXPECT_EQ(reinterpret_cast<const float*>(l.wq.row(r2))[0], float(r2));
  EXPECT_EQ(l.bq.dtype, DType::kF32);
  EXPECT_EQ(l.bq.cols, 64);
  EXPECT_EQ(l.bq.f32()[17], 17.0f);
  EXPECT_EQ(l.bv.dtype, DType::kF32);  // converted from BF16
  EXPECT_EQ(l.bv.cols, 32);
}

TEST(GgufModel, TinyQwen3WithYarn) {
  TinyArch a;
  a.arch = "qwen3";
  a.head_dim = 32;  // key_length != hidden / heads
  GgufWriter w = tiny_model(a);
  w.kv_str("qwen3.rope.scaling.type", "yarn");
  w.kv<float>("qwen3.rope.scaling.factor", GgufType::kFloat32, 4.0f);
  w.kv<uint32_t>("qwen3.rope.scaling.original_context_length", GgufType::kUint32, 32768);
  auto r = load_gguf_model(write_file("tiny_qwen3.gguf", w.build()));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const ModelConfig& c = r->config;
  EXPECT_EQ(c.arch, Arch::kQwen3);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::kYarn);
  EXPECT_EQ(c.rope_scaling.factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 32768);
  EXPECT_EQ(r->weights.layers[0].q_norm.cols, 32);
  EXPECT_EQ(r->weights.layers[0].wq.rows, 128);
}

// Replaces the value of `general.architecture` (a 5-byte string in tiny models) in built bytes;
// writing a second key would be rejected as a duplicate.
std::vector<uint8_t> with_arch(std::vector<uint8_t> b, const std::string& arch5) {
  const std::string needle = "general.architecture";
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  SEER_ASSERT(it != b.end() && arch5.size() == 5);
  const size_t at = size_t(it - b.begin()) + needle.size() + 4 + 8;  // skip type and length
  std::memcpy(b.data() + at, arch5.data(), 5);
  return b;
}

TEST(GgufModel, ErrorsNameFileFieldAndValue) {
  struct Case {
    std::string name;
    std::function<std::vector<uint8_t>()> make;
    std::vector<std::string> expect;
  };
  auto edit = [](std::function<void(GgufWriter&)> f) {
    return [f] {
      GgufWriter w = tiny_model(TinyArch{});
      f(w);
      return w.build();
    };
  };
  auto drop = [&](const std::string& tensor) {
    return edit([tensor](GgufWriter& w) {
      auto& t = w.tensors();
      for (size_t i = 0; i < t.size(); ++i)
        if (t[i].name == tensor) t.erase(t.begin() + long(i));
    });
  };
  auto reshape = [&](const std::string& tensor, std::vector<uint64_t> dims) {
    return edit([tensor, dims](GgufWriter& w) {
      for (auto& t : w.tensors())
        if (t.name == tensor) {
          t.dims = dims;
          uint64_t numel = 1;
          for (uint64_t d : dims) numel *= d;
          t.data.assign(type_bytes(t.type_id, numel), 1);
        }
    });
  };
  const std::vector<Case> cases = {
      {"arch", [] { return with_arch(tiny_model(TinyArch{}).build(), "gpt-j"); },
       {"general.architecture", "unsupported architecture 'gpt-j'"}},
      {"missing_key", [] { return with_arch(tiny_model(TinyArch{}).build(), "qwen2"); },
       {"qwen2.embedding_length"}},
      {"rope_freqs", edit([](GgufWriter& w) { w.tensor({"rope_freqs.weight", {8}, kF32}); }),
       {"rope_freqs.weight", "not supported"}},
      {"rope_linear", edit([](GgufWriter& w) { w.kv_str("llama.rope.scaling.type", "linear"); }),
       {"llama.rope.scaling.type", "'linear'"}},
      {"missing_tensor", drop("blk.1.ffn_up.weight"), {"blk.1.ffn_up.weight"}},
      {"misshaped_q", reshape("blk.0.attn_q.weight", {64, 48}), {"blk.0.attn_q.weight", "[64, 64]", "[48, 64]"}},
      {"misshaped_down", reshape("blk.1.ffn_down.weight", {64, 64}),
       {"blk.1.ffn_down.weight", "[64, 96]", "[64, 64]"}},
      {"misshaped_norm", reshape("blk.0.ffn_norm.weight", {32}), {"blk.0.ffn_norm.weight", "[1, 64]", "[1, 32]"}},
      {"norm_is_matrix", reshape("output_norm.weight", {64, 1}), {"output_norm.weight", "[64, 1]"}},
      // (once an allocation of the count before any tensor was checked: found by fuzzing)
      {"block_count_beyond_tensors",
       [] {
         TinyArch a;
         a.block_count = 2147483647;
         return tiny_model(a).build();
       },
       {"blk.2.attn_norm.weight"}},
      {"duplicate_key",
       edit([](GgufWriter& w) { w.kv<uint32_t>("llama.attention.head_count", GgufType::kUint32, 0); }),
       {"duplicate", "llama.attention.head_count"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = "model_err_" + c.name + ".gguf";
    auto r = load_gguf_model(write_file(file, c.make()));
    ASSERT_FALSE(r.is_ok());
    const std::string& msg = r.status().message();
    if (std::getenv("SEER_TEST_VERBOSE") != nullptr) std::printf("%s\n", msg.c_str());
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    for (const auto& e : c.expect) EXPECT_NE(msg.find(e), std::string::npos) << msg << "\n  lacks: " << e;
  }
  // A key with an out-of-range value.
  TinyArch a;
  a.heads_in_key = 0;
  auto r = load_gguf_model(write_file("model_err_zero_heads2.gguf", tiny_model(a).build()));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("llama.attention.head_count"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("value 0"), std::string::npos) << r.status().message();
}

// Loads `bytes` as `file` and expects an error naming the file and holding every needle.
void expect_model_error(const std::string& file, const std::vector<uint8_t>& bytes,
                        const std::vector<std::string>& needles) {
  SCOPED_TRACE(file);
  auto r = load_gguf_model(write_file(file, bytes));
  ASSERT_FALSE(r.is_ok()) << file << " loaded";
  const std::string& msg = r.status().message();
  if (std::getenv("SEER_TEST_VERBOSE") != nullptr) std::printf("%s\n", msg.c_str());
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg << "\n  lacks: " << n;
}

// Float parameters were range-checked as doubles, then narrowed to float: inf, NaN and 1e300
// loaded and gave NaN logits. Each is now checked for finiteness, range and the float range.
TEST(GgufModel, FloatParametersCheckedBeforeNarrowing) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  auto yarn = [](std::function<void(GgufWriter&)> keys) {
    GgufWriter w = tiny_model(TinyArch{});
    w.kv_str("llama.rope.scaling.type", "yarn");
    w.kv<uint32_t>("llama.rope.scaling.original_context_length", GgufType::kUint32, 512);
    keys(w);
    return w.build();
  };
  auto factor = [](double f) { return [f](GgufWriter& w) { kv_number(w, "llama.rope.scaling.factor", f); }; };
  auto with_factor = [&](std::function<void(GgufWriter&)> keys) {
    return [keys](GgufWriter& w) {
      kv_number(w, "llama.rope.scaling.factor", 4.0);
      keys(w);
    };
  };
  expect_model_error("float_yarn_factor_inf.gguf", yarn(factor(inf)), {"'llama.rope.scaling.factor'", "value inf", "[1, 1000000]"});
  expect_model_error("float_yarn_factor_1e300.gguf", yarn(factor(1e300)), {"'llama.rope.scaling.factor'", "value 1e+300"});
  expect_model_error("float_yarn_factor_below_1.gguf", yarn(factor(0.5)), {"'llama.rope.scaling.factor'", "value 0.5"});
  expect_model_error("float_yarn_beta_fast_nan.gguf",
                     yarn(with_factor([&](GgufWriter& w) { kv_number(w, "llama.rope.scaling.yarn_beta_fast", nan); })),
                     {"'llama.rope.scaling.yarn_beta_fast'", "value nan", "(0, 1000000]"});
  expect_model_error("float_yarn_beta_slow_zero.gguf",
                     yarn(with_factor([&](GgufWriter& w) { kv_number(w, "llama.rope.scaling.yarn_beta_slow", 0.0); })),
                     {"'llama.rope.scaling.yarn_beta_slow'", "value 0"});
  expect_model_error("float_yarn_attn_factor_nan.gguf",
                     yarn(with_factor([&](GgufWriter& w) { kv_number(w, "llama.rope.scaling.attn_factor", nan); })),
                     {"'llama.rope.scaling.attn_factor'", "value nan", "[0, 1000]"});
  expect_model_error("float_yarn_attn_factor_negative.gguf",
                     yarn(with_factor([&](GgufWriter& w) { kv_number(w, "llama.rope.scaling.attn_factor", -1.0); })),
                     {"'llama.rope.scaling.attn_factor'", "value -1"});
  TinyArch a;
  a.freq_base = inf;
  expect_model_error("float_freq_base_inf.gguf", tiny_model(a).build(), {"'llama.rope.freq_base'", "value inf", "(1, 1000000000000]"});
  a.freq_base = 1e13;
  expect_model_error("float_freq_base_1e13.gguf", tiny_model(a).build(), {"'llama.rope.freq_base'", "value 10000000000000"});
  a = TinyArch{};
  a.rms_eps = 1e39;
  expect_model_error("float_eps_1e39.gguf", tiny_model(a).build(), {"'llama.attention.layer_norm_rms_epsilon'", "value 1e+39", "(0, 1)"});
  a.rms_eps = 1e-50;  // in range, but 0 as a float
  expect_model_error("float_eps_1e-50.gguf", tiny_model(a).build(),
                     {"'llama.attention.layer_norm_rms_epsilon'", "value 1e-50", "too small for a float"});

  // In range: loads, with an attn_factor of 0 meaning "derive".
  auto r = load_gguf_model(write_file("float_yarn_ok.gguf", yarn(with_factor([](GgufWriter& w) {
    kv_number(w, "llama.rope.scaling.yarn_beta_fast", 16.0);
    kv_number(w, "llama.rope.scaling.attn_factor", 0.0);
  }))));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->config.rope_scaling.beta_fast, 16.0f);
  EXPECT_EQ(r->config.rope_scaling.beta_slow, 1.0f);
  EXPECT_EQ(r->config.rope_scaling.attention_factor, 0.0f);
}

// Tensors the loader does not take were ignored: block_count 29 over 30 layers of tensors loaded
// (perplexity 13.9 instead of 1.88), as did a bias the config has no slot for.
TEST(GgufModel, UnusedTensorsRefused) {
  TinyArch a;
  a.block_count = 1;  // the tensors hold 2 layers
  expect_model_error("unused_layer.gguf", tiny_model(a).build(),
                     {"tensor 'blk.1.attn_norm.weight' is of layer 1", "key 'llama.block_count' is 1",
                      "tensors of layers >= 1 in the file: 9"});
  auto with = [](std::function<void(GgufWriter&)> f) {
    GgufWriter w = tiny_model(TinyArch{});
    f(w);
    return w.build();
  };
  // (a bias of layer 1 only: the biases are detected at layer 0)
  expect_model_error("unused_bias.gguf", with([](GgufWriter& w) { w.tensor({"blk.1.attn_q.bias", {64}, kF32}); }),
                     {"tensor 'blk.1.attn_q.bias' is not used", "unused tensors in the file: 1"});
  expect_model_error("unused_other.gguf", with([](GgufWriter& w) {
                       w.tensor({"rope_factors.weight", {8}, kF32});
                       w.tensor({"blk.0.ffn_gate_inp.weight", {64, 4}, kF32});
                     }),
                     {"tensor 'rope_factors.weight' is not used", "unused tensors in the file: 2"});
  expect_model_error("nonzero_output_bias.gguf",
                     with([](GgufWriter& w) { w.tensor({"blk.0.attn_output.bias", {64}, kF32, f32_vector(64, 0.0f)}); }),
                     {"tensor 'blk.0.attn_output.bias' is non-zero", "element 1 is 1"});
  // An all-zero output bias changes nothing: accepted, as in the HF loader.
  auto r = load_gguf_model(write_file("zero_output_bias.gguf", with([](GgufWriter& w) {
    w.tensor({"blk.1.attn_output.bias", {64}, kF32, std::vector<uint8_t>(256, 0)});
  })));
  EXPECT_TRUE(r.is_ok()) << r.status().message();
}

// The tokenizer's size was not compared with token_embd's rows: `seer info` showed a vocab of 1000
// with a 49152-token tokenizer, and generation failed later.
TEST(GgufModel, TokenizerLargerThanEmbeddings) {
  GgufWriter w = tiny_model(TinyArch{});  // 260 tokens
  for (TensorSpec& t : w.tensors())
    if (t.name == "token_embd.weight") {
      t.dims = {64, 259};
      t.data.assign(type_bytes(t.type_id, 64 * 259), 0);
    }
  expect_model_error("tokenizer_larger.gguf", w.build(),
                     {"tokenizer has 260 tokens", "'tokenizer.ggml.tokens'", "259 rows of tensor 'token_embd.weight'"});
}

// Without key_length the head_dim is embedding_length / head_count; when that is 0 the message named
// key_length, which is not in the file, with "value 0".
TEST(GgufModel, DerivedHeadDimZeroNamesBothKeys) {
  TinyArch a;
  a.heads_in_key = 100000;
  expect_model_error("head_dim_zero.gguf", tiny_model(a).build(),
                     {"'llama.attention.key_length' is absent", "'llama.embedding_length' (64)",
                      "'llama.attention.head_count' (100000)", "is 0"});
}

// ---------------------------------------------------------------------------------------------
// The real default model (DATA.md). Skipped when it has not been fetched.

bool have_default_model() { return fs::exists(default_model_path()); }

TEST(GgufRealModel, TensorTypes) {
  if (!have_default_model()) GTEST_SKIP() << "no model at " << default_model_path() << " (scripts/fetch-model.sh)";
  auto r = GgufFile::open(default_model_path());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.tensors().size(), 2u + 30u * 9u);
  EXPECT_EQ(val(f.get_string("general.architecture")), "llama");
  const GgufTensor* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::kQ8_0);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("output_norm.weight")->dtype, DType::kF32);
  for (int i = 0; i < 30; ++i) {
    auto n = [i](const char* s) { return fmt::format("blk.{}.{}", i, s); };
    for (const char* s : {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                          "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}) {
      const GgufTensor* t = f.find_tensor(n(s));
      ASSERT_NE(t, nullptr) << n(s);
      EXPECT_EQ(t->dtype, DType::kQ4_1) << n(s);
    }
    for (const char* s : {"attn_norm.weight", "ffn_norm.weight"}) {
      const GgufTensor* t = f.find_tensor(n(s));
      ASSERT_NE(t, nullptr) << n(s);
      EXPECT_EQ(t->dtype, DType::kF32) << n(s);
    }
    EXPECT_EQ(f.find_tensor(n("attn_k.weight"))->shape, (std::vector<int64_t>{576, 192}));
    EXPECT_EQ(f.find_tensor(n("ffn_down.weight"))->shape, (std::vector<int64_t>{1536, 576}));
  }
  EXPECT_EQ((val(f.get_array("tokenizer.ggml.tokens")))->strings.size(), 49152u);
}

TEST(GgufRealModel, ConfigAndUnpermutedRows) {
  if (!have_default_model()) GTEST_SKIP() << "no model at " << default_model_path() << " (scripts/fetch-model.sh)";
  auto r = load_model(default_model_path());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Model& m = *r;
  const ModelConfig& c = m.config;
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.num_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.num_qo_heads, 9);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rope_theta, 100000.0f);
  EXPECT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.max_position, 8192);
  EXPECT_EQ(c.rope_scaling.type, RopeScalingType::kNone);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(m.weights.output.data, m.weights.tok_embd.data);
  EXPECT_EQ(m.weights.layers[0].wq.dtype, DType::kQ4_1);
  EXPECT_TRUE(validate_weights(m).is_ok());

  const std::string path = std::string(SEER_SOURCE_DIR) + "/tests/golden/smollm2_qk_rows.bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing " << path << " (scripts/golden/make_gguf_golden.py)";
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(buf.size(), 16u);
  uint32_t hdr[4];
  std::memcpy(hdr, buf.data(), 16);
  ASSERT_EQ(hdr[0], 0x4b515345u);
  ASSERT_EQ(hdr[1], 1u);
  const uint32_t n_rec = hdr[2], n_cols = hdr[3];
  ASSERT_EQ(buf.size(), 16u + size_t(n_rec) * (8 + 4 * n_cols));
  ASSERT_EQ(n_rec, (9u + 3u) * 4u);
  std::vector<float> row(576);
  for (uint32_t k = 0; k < n_rec; ++k) {
    const uint8_t* rec = buf.data() + 16 + size_t(k) * (8 + 4 * n_cols);
    uint32_t which, hf_row;
    std::memcpy(&which, rec, 4);
    std::memcpy(&hf_row, rec + 4, 4);
    const Weight& w = which == 0 ? m.weights.layers[0].wq : m.weights.layers[0].wk;
    ASSERT_LT(int64_t(hf_row), w.rows);
    dequantize_row(w.dtype, w.row(hf_row), row.data(), w.cols);
    EXPECT_EQ(std::memcmp(row.data(), rec + 8, 4 * n_cols), 0) << (which ? "attn_k" : "attn_q") << " row " << hf_row;
  }
}

}  // namespace
}  // namespace seer

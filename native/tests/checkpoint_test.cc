// The checkpoint readers and writer against real files torch wrote (test/fixtures/generated, npm run fixtures),
// and the refusals that keep a hostile file harmless.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "checkpoint/crc32.h"
#include "checkpoint/random_access_file.h"
#include "checkpoint/zip_archive.h"
#include "test_support.h"

namespace vitorch::checkpoint {
namespace {

using testing::checkpoint_error_of;
using testing::fixture;
using testing::read_file;
using testing::ScratchFolder;
using testing::write_file;

// The bytes of a tensor in row-major order, as the fixtures' .bin files hold them.
std::string dense_bytes(const torch::Tensor& tensor) {
  const torch::Tensor dense = tensor.contiguous();
  return std::string(static_cast<const char*>(dense.data_ptr()), dense.numel() * dense.element_size());
}

const torch::Tensor& tensor_named(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [key, tensor] : tensors) {
    if (key == name) return tensor;
  }
  throw std::runtime_error("no tensor " + name);
}

// fuzz-seed.* hold the same five tensors in each format (tools/make_checkpoint_fixtures.py): their values are in
// fuzz-seed.<name>.bin.
void expect_fuzz_seed_tensors(const NamedTensors& tensors) {
  ASSERT_EQ(tensors.size(), 5u);
  const struct {
    const char* name;
    c10::ScalarType dtype;
    std::vector<int64_t> sizes;
  } expected[] = {
      {"weight", torch::kFloat, {2, 3}}, {"weight_t", torch::kFloat, {3, 2}}, {"bias", torch::kHalf, {3}},
      {"index", torch::kLong, {3}},      {"flag", torch::kBool, {2}},
  };
  for (const auto& entry : expected) {
    SCOPED_TRACE(entry.name);
    const torch::Tensor& tensor = tensor_named(tensors, entry.name);
    EXPECT_EQ(tensor.scalar_type(), entry.dtype);
    EXPECT_EQ(tensor.sizes().vec(), entry.sizes);
    EXPECT_EQ(dense_bytes(tensor), read_file(fixture(std::string("checkpoints/fuzz-seed.") + entry.name + ".bin")));
  }
}

TEST(ReadCheckpoint, ReadsTorchZip) {
  const Checkpoint checkpoint = load_checkpoint_file(fixture("checkpoints/fuzz-seed.pth"));
  EXPECT_EQ(checkpoint.format, "torch-zip");
  expect_fuzz_seed_tensors(checkpoint.tensors);
  // weight_t is a transposed view of weight's storage, as in Python.
  EXPECT_EQ(tensor_named(checkpoint.tensors, "weight_t").data_ptr(),
            tensor_named(checkpoint.tensors, "weight").data_ptr());
}

TEST(ReadCheckpoint, ReadsTorchLegacy) {
  const Checkpoint checkpoint = load_checkpoint_file(fixture("checkpoints/fuzz-seed-legacy.pth"));
  EXPECT_EQ(checkpoint.format, "torch-legacy");
  expect_fuzz_seed_tensors(checkpoint.tensors);
}

TEST(ReadCheckpoint, ReadsSafetensors) {
  const Checkpoint checkpoint = load_checkpoint_file(fixture("checkpoints/fuzz-seed.safetensors"));
  EXPECT_EQ(checkpoint.format, "safetensors");
  expect_fuzz_seed_tensors(checkpoint.tensors);
}

TEST(ReadCheckpoint, ReadsAModelStateDictInEveryFormat) {
  for (const char* file : {"checkpoints/small.pth", "checkpoints/small-legacy.pth", "checkpoints/small.safetensors"}) {
    SCOPED_TRACE(file);
    const NamedTensors tensors = read_checkpoint(fixture(file));
    EXPECT_EQ(dense_bytes(tensor_named(tensors, "pos_embed")), read_file(fixture("checkpoints/small.pos_embed.bin")));
    EXPECT_EQ(dense_bytes(tensor_named(tensors, "blocks.1.attn.qkv.weight")),
              read_file(fixture("checkpoints/small.blocks.1.attn.qkv.weight.bin")));
  }
}

TEST(ReadCheckpoint, RefusesADisallowedGlobalBeforeRunningIt) {
  const std::string path = fixture("checkpoints/broken-global-eval.pth");
  const std::string message = checkpoint_error_of([&] { read_checkpoint(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("refusing to load global 'builtins.eval'"), std::string::npos) << message;
}

// The broken files tools/make_checkpoint_fixtures.py writes, each with the words its error must contain.
TEST(ReadCheckpoint, RefusesBrokenFilesSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"broken-unknown-opcode.pth", "opcode 0xff"},
      {"broken-zip-beyond.pth", "broken-zip-beyond/data/0"},
      {"broken-legacy-truncated.pth", "truncated"},
      {"broken-header-8gb.safetensors", "header length field claims 8589934592"},
  };
  for (const auto& [file, words] : cases) {
    SCOPED_TRACE(file);
    const std::string path = fixture("checkpoints/" + std::string(file));
    const std::string message = checkpoint_error_of([&] { read_checkpoint(path); });
    EXPECT_NE(message.find(words), std::string::npos) << message;
  }
}

TEST(ZipArchive, ReportsACrcMismatchAndReadsWithoutTheCheck) {
  ScratchFolder folder;
  std::string bytes = read_file(fixture("checkpoints/fuzz-seed.pth"));
  const std::string path = folder.file("flipped.pth");
  write_file(path, bytes);
  uint64_t data_offset = 0;
  {
    RandomAccessFile file(path);
    ZipArchive archive(file);
    const ZipArchive::Record* record = archive.find("fuzz-seed/data/0");
    ASSERT_NE(record, nullptr);
    data_offset = archive.data_offset_of(*record);
    EXPECT_EQ(record->crc32, crc32(bytes.data() + data_offset, record->size));
  }
  bytes[data_offset + 3] ^= 0x40;  // one bit of weight[0][0]
  write_file(path, bytes);

  RandomAccessFile file(path);
  ZipArchive archive(file);
  const ZipArchive::Record& record = *archive.find("fuzz-seed/data/0");
  std::string out(record.size, '\0');
  const std::string message =
      checkpoint_error_of([&] { archive.read(record, out.data(), out.size(), /*verify_checksum=*/true); });
  EXPECT_NE(message.find("record 'fuzz-seed/data/0' is corrupt (CRC-32"), std::string::npos) << message;
  archive.read(record, out.data(), out.size(), /*verify_checksum=*/false);
  EXPECT_EQ(out, bytes.substr(data_offset, record.size));

  checkpoint_error_of([&] { read_checkpoint(path); });
  ReadOptions unchecked;
  unchecked.verify_checksums = false;
  EXPECT_EQ(read_checkpoint(path, unchecked).size(), 5u);
}

TEST(Crc32, MatchesTheCheckValueInPieces) {
  const std::string text = "123456789";
  EXPECT_EQ(crc32(text.data(), text.size()), 0xCBF43926u);
  EXPECT_EQ(crc32(text.data() + 4, 5, crc32(text.data(), 4)), 0xCBF43926u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
}

// What vitorch writes, it reads back identically (Python's side: tools/check_written_checkpoint.py in the jest
// tests).
TEST(WriteCheckpoint, RoundTripsEveryFormat) {
  ScratchFolder folder;
  const NamedTensors original = read_checkpoint(fixture("checkpoints/fuzz-seed.pth"));
  for (const auto& [format, name] :
       {std::pair{WriteFormat::kTorchZip, "out.pth"}, std::pair{WriteFormat::kSafetensors, "out.safetensors"}}) {
    SCOPED_TRACE(name);
    WriteOptions options;
    options.format = format;
    write_checkpoint(folder.file(name), original, options);
    const NamedTensors written = read_checkpoint(folder.file(name));
    ASSERT_EQ(written.size(), original.size());
    for (size_t i = 0; i < written.size(); ++i) {
      EXPECT_EQ(written[i].first, original[i].first);
      EXPECT_EQ(written[i].second.sizes(), original[i].second.sizes());
      EXPECT_EQ(dense_bytes(written[i].second), dense_bytes(original[i].second));
    }
  }
}

TEST(WriteCheckpoint, AlignsTorchZipRecordsAs64Bytes) {
  ScratchFolder folder;
  write_checkpoint(folder.file("out.pth"), read_checkpoint(fixture("checkpoints/fuzz-seed.pth")));
  RandomAccessFile file(folder.file("out.pth"));
  ZipArchive archive(file);
  int data_records = 0;
  for (const auto& record : archive.records()) {
    if (record.name.find("/data/") == std::string::npos) continue;
    ++data_records;
    EXPECT_EQ(archive.data_offset_of(record) % 64, 0u) << record.name;
  }
  EXPECT_EQ(data_records, 5);  // one per tensor: each is written as its own dense copy
}

TEST(WriteCheckpoint, LeavesTheTargetUntouchedWhenATensorCannotBeWritten) {
  ScratchFolder folder;
  const std::string path = folder.file("keep.pth");
  write_file(path, "old");
  const NamedTensors tensors = {{"a", torch::ones({2})}, {"a", torch::ones({2})}};
  EXPECT_THROW(write_checkpoint(path, tensors), InvalidValue);
  EXPECT_EQ(read_file(path), "old");
}

// An I/O error in the middle of a .pth (here the file size limit, EFBIG, standing in for a full disk) reaches the
// caller as the AtomicFileWriter's CheckpointError with the OS reason, through libtorch's zip writer, which must
// neither see the exception nor throw again while finishing the archive; the old file stays and no temporary file
// is left behind.
TEST(WriteCheckpoint, ReportsAnIoErrorMidRecordAndKeepsTheOldFile) {
  ScratchFolder folder;
  const std::string path = folder.file("keep.pth");
  write_file(path, "old");
  const NamedTensors tensors = {{"small", torch::ones({4})}, {"large", torch::ones({1 << 18})}};  // 1 MiB

  rlimit previous{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous), 0);
  const auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);  // write(2) then fails with EFBIG instead
  rlimit limited = previous;
  limited.rlim_cur = 64 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  const std::string message = checkpoint_error_of([&] { write_checkpoint(path, tensors); });
  ::setrlimit(RLIMIT_FSIZE, &previous);
  ::signal(SIGXFSZ, previous_handler);

  EXPECT_EQ(message.find(path + ": cannot write checkpoint: write error (File too large)"), 0u) << message;
  EXPECT_EQ(read_file(path), "old");
  const std::filesystem::directory_iterator folder_entries(std::filesystem::path(path).parent_path());
  EXPECT_EQ(std::distance(begin(folder_entries), end(folder_entries)), 1);
}

}  // namespace
}  // namespace vitorch::checkpoint

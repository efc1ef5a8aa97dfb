// The recording file format and the PIN hash of bcast-player.
#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "player/parental.h"
#include "player/recording.h"

namespace {

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    g_autofree gchar* dir = g_dir_make_tmp("player-units-XXXXXX", nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const auto& f : files_) g_remove(f.c_str());
    g_rmdir((dir_ + "/cfg").c_str());
    g_rmdir(dir_.c_str());
  }
  std::string File(const std::string& name) {
    files_.push_back(dir_ + "/" + name);
    return files_.back();
  }
  std::string dir_;
  std::vector<std::string> files_;
};

using RecordingTest = TempDir;
using ParentalTest = TempDir;

TEST_F(RecordingTest, RoundTripAndMode) {
  const std::string path = File("a.bcrec");
  auto w = player::RecordingWriter::Create(path, "v=0\ns=test\n");
  ASSERT_TRUE(w) << w.error().message;
  const std::vector<std::uint8_t> stkm = {1, 2, 3}, rtp(1400, 0xab);
  EXPECT_TRUE(w.value()->Write(player::RecordKind::kKey, 0, 0, stkm));
  EXPECT_TRUE(w.value()->Write(player::RecordKind::kMedia, 1, 123456, rtp));
  EXPECT_EQ(w.value()->datagrams(), 2u);
  std::string error;
  ASSERT_TRUE(w.value()->Close(&error)) << error;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(player::IsRecordingFile(path));

  auto r = player::RecordingReader::Open(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value()->sdp_text(), "v=0\ns=test\n");
  auto a = r.value()->Next();
  ASSERT_TRUE(a && a.value());
  EXPECT_EQ(a.value()->kind, player::RecordKind::kKey);
  EXPECT_EQ(a.value()->data, stkm);
  auto b = r.value()->Next();
  ASSERT_TRUE(b && b.value());
  EXPECT_EQ(b.value()->index, 1);
  EXPECT_EQ(b.value()->time_us, 123456u);
  EXPECT_EQ(b.value()->data, rtp);
  auto end = r.value()->Next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(end.value().has_value());
}

TEST_F(RecordingTest, TruncatedAndBadRecordsNameFieldAndOffset) {
  const std::string path = File("b.bcrec");
  {
    auto w = player::RecordingWriter::Create(path, "s=x\n");
    ASSERT_TRUE(w);
    w.value()->Write(player::RecordKind::kMedia, 0, 5, std::vector<std::uint8_t>(100, 1));
    std::string error;
    ASSERT_TRUE(w.value()->Close(&error));
  }
  gchar* data = nullptr;
  gsize size = 0;
  ASSERT_TRUE(g_file_get_contents(path.c_str(), &data, &size, nullptr));
  const std::string whole(data, size);
  g_free(data);
  const std::size_t header = 11 + 4 + 4;  // magic, sdp_length, "s=x\n"
  // Every cut inside the record is an error with an offset, never a crash or a short datagram.
  for (std::size_t cut = header + 1; cut < whole.size(); ++cut) {
    const std::string cut_path = File("cut" + std::to_string(cut) + ".bcrec");
    ASSERT_TRUE(
        g_file_set_contents(cut_path.c_str(), whole.data(), static_cast<gssize>(cut), nullptr));
    auto r = player::RecordingReader::Open(cut_path);
    ASSERT_TRUE(r);
    auto next = r.value()->Next();
    ASSERT_FALSE(next) << "cut at " << cut;
    EXPECT_EQ(next.error().offset, next.error().field == "data" ? header + 16 : header);
  }
  std::string bad = whole;
  bad[header] = 9;  // unknown kind
  const std::string bad_path = File("bad.bcrec");
  ASSERT_TRUE(
      g_file_set_contents(bad_path.c_str(), bad.data(), static_cast<gssize>(bad.size()), nullptr));
  auto r = player::RecordingReader::Open(bad_path);
  ASSERT_TRUE(r);
  auto next = r.value()->Next();
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().field, "kind");
  const std::string not_rec = File("not.sdp");
  ASSERT_TRUE(g_file_set_contents(not_rec.c_str(), "v=0\n", -1, nullptr));
  EXPECT_FALSE(player::IsRecordingFile(not_rec));
  auto opened = player::RecordingReader::Open(not_rec);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().field, "magic");
}

TEST(PinTest, HashVerifiesOnlyTheSamePin) {
  const std::string hash = player::HashPin("4711");
  ASSERT_EQ(hash.rfind("pbkdf2-sha256:", 0), 0u);
  EXPECT_EQ(hash.find("4711"), std::string::npos);
  EXPECT_TRUE(player::VerifyPin("4711", hash));
  EXPECT_FALSE(player::VerifyPin("4712", hash));
  EXPECT_FALSE(player::VerifyPin("", hash));
  EXPECT_NE(player::HashPin("4711"), hash) << "a fresh salt every time";
  EXPECT_FALSE(player::VerifyPin("4711", "plain:4711"));
  EXPECT_FALSE(player::VerifyPin("4711", "pbkdf2-sha256:10:00:00"));  // too few iterations
  EXPECT_TRUE(player::ValidPin("0000"));
  EXPECT_FALSE(player::ValidPin("123"));
  EXPECT_FALSE(player::ValidPin("12a4"));
}

TEST_F(ParentalTest, ConfigSavedWithMode0600AndLoaded) {
  const std::string path = dir_ + "/cfg/player.ini";
  files_.push_back(path);
  player::ParentalConfig c;
  std::string error;
  ASSERT_TRUE(player::LoadParentalConfig(path, &c, &error));  // missing: defaults
  EXPECT_EQ(c.max_age, 255u);
  c.max_age = 12;
  c.pin_hash = player::HashPin("1234");
  ASSERT_TRUE(player::SaveParentalConfig(path, c, &error)) << error;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  player::ParentalConfig loaded;
  ASSERT_TRUE(player::LoadParentalConfig(path, &loaded, &error));
  EXPECT_EQ(loaded.max_age, 12u);
  EXPECT_TRUE(player::VerifyPin("1234", loaded.pin_hash));
  ASSERT_TRUE(g_file_set_contents(path.c_str(), "[parental]\nmax-age=300\n", -1, nullptr));
  EXPECT_FALSE(player::LoadParentalConfig(path, &loaded, &error));
  EXPECT_NE(error.find("max-age"), std::string::npos);
}

}  // namespace

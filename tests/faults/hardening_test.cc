// Process hardening of spcd seen from outside: spcd turns itself non-dumpable (no core file with
// key material, no ptrace or /proc/<pid>/mem by a process of the same user). proc(5): the files
// under /proc/<pid> of a process whose dumpable attribute is not 1 belong to root, whatever user
// the process runs as. So spcd is started as an unprivileged user (uid 65534) and its
// /proc/<pid>/status must be root's, while a control process of that user keeps its own uid there.
// Needs root to switch users (the CI container runs as root): skipped, with the reason, otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/spcd/spcd_test_util.h"

namespace spcd_test {
namespace {

constexpr uid_t kNobody = 65534;

struct SubprocessDeleter {
  void operator()(GSubprocess* p) const {
    if (!p) return;
    g_subprocess_force_exit(p);
    WaitForExit(p, 20000);
    g_object_unref(p);
  }
};
using SubprocessPtr = std::unique_ptr<GSubprocess, SubprocessDeleter>;

std::vector<std::string> AsNobody() {
  return {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
}

SubprocessPtr Spawn(const std::vector<std::string>& argv, const std::string& log) {
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
  if (!log.empty()) g_subprocess_launcher_set_stdout_file_path(l, log.c_str());
  std::vector<const gchar*> c;
  for (const auto& a : argv) c.push_back(a.c_str());
  c.push_back(nullptr);
  g_autoptr(GError) err = nullptr;
  GSubprocess* p = g_subprocess_launcher_spawnv(l, c.data(), &err);
  if (!p) ADD_FAILURE() << argv[0] << ": " << err->message;
  return SubprocessPtr(p);
}

// Owner of /proc/<pid>/status, or -1 if the process is gone. (A file inside: the inode of the
// /proc/<pid> folder itself can keep the owner it had when it was first looked up.)
long ProcOwner(GSubprocess* p) {
  std::string path = std::string("/proc/") + g_subprocess_get_identifier(p) + "/status";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<long>(st.st_uid);
}

std::string Comm(GSubprocess* p) {
  std::string c = ReadFileOrEmpty(std::string("/proc/") + g_subprocess_get_identifier(p) + "/comm");
  while (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::getuid() != 0) GTEST_SKIP() << "needs root to run spcd as another user (setpriv)";
    if (!g_file_test("/usr/bin/setpriv", G_FILE_TEST_IS_EXECUTABLE)) {
      GTEST_SKIP() << "no /usr/bin/setpriv (util-linux) to switch users";
    }
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // the other user reaches the bus socket
    bus_ = std::make_unique<PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    home_ = dir_.File("nobody");
    ASSERT_EQ(::mkdir(home_.c_str(), 0700), 0);
    ASSERT_EQ(::chown(home_.c_str(), kNobody, kNobody), 0);
  }

  TempDir dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::string home_;
};

TEST_F(HardeningTest, SpcdIsNotDumpable) {
  // Control: an ordinary process of that user owns its /proc folder (the test's premise).
  auto argv = AsNobody();
  argv.insert(argv.end(), {"/bin/sleep", "60"});
  SubprocessPtr control = Spawn(argv, "");
  ASSERT_TRUE(control);
  // setpriv changes the user and then execs sleep: the exec is the event to wait for.
  const gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (Comm(control.get()) != "sleep" && g_get_monotonic_time() < deadline) {
    g_usleep(10000);
  }
  ASSERT_EQ(Comm(control.get()), "sleep");
  EXPECT_EQ(ProcOwner(control.get()), static_cast<long>(kNobody));

  argv = AsNobody();
  argv.insert(argv.end(),
              {SpcdPath(), "--bus-address", bus_->address(), "--store", home_ + "/spc.db"});
  const std::string log = dir_.File("spcd.log");
  SubprocessPtr spcd = Spawn(argv, log);
  ASSERT_TRUE(spcd);
  // Owning the name comes after the prctl at the start of spcd's main.
  ASSERT_TRUE(WaitForName(bus_->conn(), kName, true, 20000, spcd.get())) << ReadFileOrEmpty(log);
  EXPECT_NE(
      ReadFileOrEmpty(std::string("/proc/") + g_subprocess_get_identifier(spcd.get()) + "/status")
          .find("Uid:\t65534\t65534"),
      std::string::npos)
      << "spcd should run as uid 65534";
  EXPECT_EQ(ProcOwner(spcd.get()), 0L)
      << "/proc/<spcd>/status belongs to uid " << ProcOwner(spcd.get())
      << ": spcd is dumpable (prctl(PR_SET_DUMPABLE, 0) missing)";

  // Its key store, made by that user, is 0600 all the same.
  struct stat st {};
  ASSERT_EQ(::stat((home_ + "/spc.db").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, kNobody);
}

}  // namespace
}  // namespace spcd_test

// Unit tests for core/remote: remote locations (every form, hostile input), the ssh argv builder,
// ssh failure classes, remote_command words and the protocol's frames.

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/local_socket.hpp"
#include "core/remote/location.hpp"
#include "core/remote/settings.hpp"
#include "core/remote/ssh_command.hpp"
#include "core/remote/ssh_errors.hpp"

namespace snapkeep {
namespace {

RemoteLocation parsed(std::string_view text) {
  auto where = parse_remote_location(text);
  EXPECT_TRUE(where.ok()) << text << ": " << (where.ok() ? "" : where.error().message);
  return where.ok() ? *where : RemoteLocation{};
}

std::string refusal(std::string_view text) {
  auto where = parse_remote_location(text);
  EXPECT_FALSE(where.ok()) << text << " was accepted as " << (where.ok() ? where->display() : "");
  return where.ok() ? "" : where.error().message;
}

TEST(RemoteLocation, ScpForm) {
  RemoteLocation a = parsed("nas:/srv/backup");
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.host, "nas");
  EXPECT_FALSE(a.port);
  EXPECT_EQ(a.path, "/srv/backup");
  RemoteLocation b = parsed("root@laptop.lan:/home/alice/");
  EXPECT_EQ(b.user, "root");
  EXPECT_EQ(b.host, "laptop.lan");
  EXPECT_EQ(b.path, "/home/alice");
  EXPECT_EQ(b.display(), "root@laptop.lan:/home/alice");
  EXPECT_EQ(parsed("h:/").path, "/");
  EXPECT_EQ(parsed("h:/a//b/./c").path, "/a/b/c");
  RemoteLocation v6 = parsed("backup@[fe80::1]:/data");
  EXPECT_EQ(v6.host, "fe80::1");
  EXPECT_EQ(v6.bracketed_host(), "[fe80::1]");
  EXPECT_EQ(v6.display(), "backup@[fe80::1]:/data");
  EXPECT_EQ(parsed("10.0.0.7:/x").host, "10.0.0.7");
}

TEST(RemoteLocation, SshUrlForm) {
  RemoteLocation a = parsed("ssh://nas/srv/backup");
  EXPECT_EQ(a.host, "nas");
  EXPECT_FALSE(a.port);
  EXPECT_EQ(a.path, "/srv/backup");
  RemoteLocation b = parsed("ssh://backup@nas.example.org:2222/srv/backup/");
  EXPECT_EQ(b.user, "backup");
  EXPECT_EQ(b.host, "nas.example.org");
  ASSERT_TRUE(b.port);
  EXPECT_EQ(*b.port, 2222);
  EXPECT_EQ(b.path, "/srv/backup");
  EXPECT_EQ(b.display(), "ssh://backup@nas.example.org:2222/srv/backup");
  RemoteLocation v6 = parsed("ssh://[::1]:22/x");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(*v6.port, 22);
  EXPECT_EQ(parsed("ssh://[::1]/x").port, std::nullopt);
  EXPECT_EQ(parse_remote_location(v6.display())->host, "::1");  // display parses back
}

TEST(RemoteLocation, LooksRemote) {
  EXPECT_TRUE(looks_remote("nas:/x"));
  EXPECT_TRUE(looks_remote("ssh://nas/x"));
  EXPECT_TRUE(looks_remote("u@h:/x"));
  EXPECT_TRUE(looks_remote("[::1]:/x"));
  EXPECT_FALSE(looks_remote("/mnt/a:b"));
  EXPECT_FALSE(looks_remote("./a:b"));
  EXPECT_FALSE(looks_remote("backup/2024:01"));
  EXPECT_FALSE(looks_remote("relative"));
  EXPECT_FALSE(looks_remote(""));
}

TEST(RemoteLocation, HostileInputIsRefusedWithAReason) {
  EXPECT_NE(refusal("nas:relative/path").find("absolute"), std::string::npos);
  EXPECT_NE(refusal("nas:").find("absolute"), std::string::npos);
  EXPECT_NE(refusal("nas:22/srv").find("ssh://host:PORT/path"), std::string::npos);
  EXPECT_NE(refusal("-oProxyCommand=touch /tmp/x:/a").find("must be letters"), std::string::npos);
  EXPECT_NE(refusal("ssh://-oProxyCommand=x/a").find("not start with '-'"), std::string::npos);
  EXPECT_NE(refusal(":/a").find("no host"), std::string::npos);
  EXPECT_NE(refusal("-l@h:/a").find("user"), std::string::npos);
  EXPECT_NE(refusal("a b@h:/a").find("user"), std::string::npos);
  EXPECT_NE(refusal("h;rm -rf /:/a").find("host"), std::string::npos);
  EXPECT_NE(refusal("h$(id):/a").find("host"), std::string::npos);
  EXPECT_NE(refusal("h:/a\nb").find("control"), std::string::npos);
  EXPECT_NE(refusal("h:/a\rb").find("control"), std::string::npos);
  EXPECT_NE(refusal(std::string("h:/a\0b", 6)).find("control"), std::string::npos);
  EXPECT_NE(refusal("h:/a/../etc").find(".."), std::string::npos);
  EXPECT_NE(refusal("ssh://h/../etc").find(".."), std::string::npos);
  EXPECT_NE(refusal("ssh://h:0/a").find("port"), std::string::npos);
  EXPECT_NE(refusal("ssh://h:65536/a").find("port"), std::string::npos);
  EXPECT_NE(refusal("ssh://h:22x/a").find("port"), std::string::npos);
  EXPECT_NE(refusal("ssh://h:/a").find("port"), std::string::npos);
  EXPECT_NE(refusal("ssh://h").find("needs a path"), std::string::npos);
  EXPECT_NE(refusal("ssh://fe80::1/a").find("brackets"), std::string::npos);
  EXPECT_NE(refusal("[fe80::zz]:/a").find("IPv6"), std::string::npos);
  EXPECT_NE(refusal("[::1/a").find("IPv6"), std::string::npos);
  EXPECT_NE(refusal(".hidden:/a").find("host"), std::string::npos);
  EXPECT_NE(refusal(std::string(300, 'a') + ":/a").find("host"), std::string::npos);
}

RemoteSettings settings_with(std::string known_hosts) {
  RemoteSettings s;
  s.known_hosts = std::move(known_hosts);
  return s;
}

// The value of `ssh -o NAME=...` in argv, "" when absent.
std::string option_value(const std::vector<std::string>& argv, const std::string& name) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "-o" && argv[i + 1].starts_with(name + "=")) {
      return argv[i + 1].substr(name.size() + 1);
    }
  }
  return "";
}

TEST(SshCommand, HostKeyCheckingIsAlwaysStrictAgainstSnapkeepsFile) {
  RemoteLocation where = parsed("ssh://backup@nas:2222/srv");
  RemoteSettings s = settings_with("/var/lib/snapkeep/known_hosts");
  s.identity = "/etc/snapkeep/id_ed25519";
  const auto argv = ssh_command_argv(where, s, {"snapkeep", "serve"});
  EXPECT_EQ(argv.front(), "ssh");
  EXPECT_EQ(option_value(argv, "StrictHostKeyChecking"), "yes");
  EXPECT_EQ(option_value(argv, "UserKnownHostsFile"), "\"/var/lib/snapkeep/known_hosts\"");
  EXPECT_EQ(option_value(argv, "GlobalKnownHostsFile"), "/dev/null");
  EXPECT_EQ(option_value(argv, "BatchMode"), "yes");
  EXPECT_EQ(option_value(argv, "ForwardAgent"), "no");
  EXPECT_EQ(option_value(argv, "IdentitiesOnly"), "yes");
  // -p and -l as separate words; then "--", the host, the remote words last.
  const std::vector<std::string> tail(argv.end() - 4, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--", "nas", "snapkeep", "serve"}));
  auto find = [&](const std::string& flag) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == flag) {
        return argv[i + 1];
      }
    }
    return std::string();
  };
  EXPECT_EQ(find("-p"), "2222");
  EXPECT_EQ(find("-l"), "backup");
  EXPECT_EQ(option_value(argv, "IdentityFile"), "\"/etc/snapkeep/id_ed25519\"");
  EXPECT_EQ(find("-i"), "") << "IdentityFile, not -i: see ssh_options_argv";
  // Nothing in the argv ever turns checking off.
  for (const auto& arg : argv) {
    EXPECT_EQ(arg.find("StrictHostKeyChecking=no"), std::string::npos);
    EXPECT_EQ(arg.find("accept-new"), std::string::npos);
  }
}

TEST(SshCommand, OptionsWithoutPortUserOrIdentityLeaveThemToSshConfig) {
  const auto argv = ssh_options_argv(parsed("nas:/srv"), settings_with("/k"));
  for (const char* flag : {"-p", "-l", "-i", "--"}) {
    EXPECT_EQ(std::find(argv.begin(), argv.end(), flag), argv.end()) << flag;
  }
  EXPECT_EQ(argv.back(), "UserKnownHostsFile=\"/k\"");
}

TEST(SshCommand, PathsAreQuotedAndPercentEscaped) {
  EXPECT_EQ(ssh_quoted_path("/a b/known%hosts"), "\"/a b/known%%hosts\"");
  RemoteSettings s = settings_with("/k");
  s.identity = "/keys/100%/id";
  const auto argv = ssh_options_argv(parsed("nas:/srv"), s);
  EXPECT_NE(std::find(argv.begin(), argv.end(), "IdentityFile=\"/keys/100%%/id\""), argv.end());
  EXPECT_FALSE(ssh_path_problem("/ok/path with space"));
  EXPECT_FALSE(ssh_path_problem("/fine/id_ed25519"));
  EXPECT_TRUE(ssh_path_problem("/a\"b"));
  EXPECT_TRUE(ssh_path_problem("/a\\b"));
  EXPECT_TRUE(ssh_path_problem("/a${HOME}"));
  EXPECT_TRUE(ssh_path_problem("/a\nb"));
}

TEST(SshCommand, RemoteCommandWordsAreLiteralForAShell) {
  auto words = parse_remote_command("  /usr/local/bin/snapkeep   serve ");
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"/usr/local/bin/snapkeep", "serve"}));
  EXPECT_TRUE(parse_remote_command("sudo -n snapkeep serve").ok());
  for (const char* hostile :
       {"snapkeep serve; rm -rf /", "snapkeep $(id)", "snapkeep `id`", "snapkeep 'x'", "snapkeep serve | sh",
        "snapkeep\nserve", "snapkeep > /etc/x", "", "   ", "-oX snapkeep"}) {
    EXPECT_FALSE(parse_remote_command(hostile).ok()) << hostile;
  }
}

TEST(SshErrors, EachFailureIsToldApart) {
  EXPECT_EQ(classify_ssh_failure(255, "ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n"),
            SshProblem::cannot_connect);
  EXPECT_EQ(classify_ssh_failure(255, "ssh: Could not resolve hostname nope: Name or service not known"),
            SshProblem::cannot_connect);
  EXPECT_EQ(classify_ssh_failure(255,
                                 "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
                                 "checking.\r\nHost key verification failed.\r\n"),
            SshProblem::unknown_host_key);
  EXPECT_EQ(classify_ssh_failure(255,
                                 "@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
                                 "Host key verification failed.\r\n"),
            SshProblem::host_key_changed);
  EXPECT_EQ(classify_ssh_failure(255, "root@127.0.0.1: Permission denied (publickey).\r\n"),
            SshProblem::permission_denied);
  EXPECT_EQ(classify_ssh_failure(255, "Connection to nas closed by remote host.\r\n"), SshProblem::connection_lost);
  // Not ssh's own failure: the remote program's.
  EXPECT_EQ(classify_ssh_failure(1, "Permission denied"), SshProblem::none);
  EXPECT_EQ(classify_ssh_failure(255, "snapkeep: something else"), SshProblem::none);

  ProcessResult changed;
  changed.exit_code = 255;
  changed.stderr_tail = "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.\n";
  const std::string message =
      ssh_failure_error(parsed("ssh://nas:2222/x"), settings_with("/k"), changed, "snapkeep serve").message;
  EXPECT_TRUE(message.starts_with("host key changed: nas port 2222")) << message;
  EXPECT_NE(message.find("Host key verification failed."), std::string::npos);  // the remote's stderr tail
  ProcessResult remote;
  remote.exit_code = 1;
  remote.stderr_tail = "snapkeep: error: home: destination /x does not exist\n";
  const std::string own = ssh_failure_error(parsed("nas:/x"), settings_with("/k"), remote, "snapkeep serve").message;
  EXPECT_NE(own.find("snapkeep serve on nas failed: it exited with status 1"), std::string::npos) << own;
  EXPECT_NE(own.find("does not exist"), std::string::npos);
}

// A pipe whose ends are closed with the test.
struct Pipe {
  Fd read;
  Fd write;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

TEST(RemoteFrame, MessagesRoundTripAndStopAtTheirEnd) {
  Pipe p;
  ASSERT_TRUE(write_message(p.write.get(), {{"type", "hello"}, {"version", k_protocol_version}}).ok());
  ASSERT_TRUE(write_message(p.write.get(), {{"type", "list"}, {"path", "/a\nb"}}).ok());
  ASSERT_EQ(::write(p.write.get(), "raw", 3), 3);
  auto first = read_message(p.read.get(), "peer");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(message_type(*first), "hello");
  auto second = read_message(p.read.get(), "peer");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["path"], "/a\nb");
  // The bytes after a message are still in the pipe for whoever reads next (rsync).
  char raw[3];
  ASSERT_EQ(::read(p.read.get(), raw, 3), 3);
  EXPECT_EQ(std::string(raw, 3), "raw");
}

// rsync sends its 4-byte protocol version and waits for the other end's: serve reached by a pull's
// rsync (a source key that forces snapkeep serve) must answer at once, not wait for a whole header.
TEST(RemoteFrame, APeerThatSendsFourBytesOfAnotherProtocolAndWaitsIsAnsweredAtOnce) {
  Pipe p;
  ASSERT_EQ(::write(p.write.get(), "\x1f\x00\x00\x00", 4), 4);  // the write end stays open
  auto got = read_message(p.read.get(), "the client");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("did not answer in snapkeep's protocol"), std::string::npos)
      << got.error().message;
}

TEST(RemoteFrame, GarbageAndTruncationAreErrorsThatQuoteWhatCame) {
  {
    Pipe p;
    const std::string junk = "Welcome to nas!\nLast login: yesterday\n";
    ASSERT_EQ(::write(p.write.get(), junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    p.write.reset();
    auto got = read_message(p.read.get(), "snapkeep serve on nas");
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("Welcome to nas!\\x0aLast login"), std::string::npos) << got.error().message;
  }
  {
    Pipe p;
    ASSERT_EQ(::write(p.write.get(), "SNPK\x00\x00\x00\x10{\"ty", 12), 12);
    p.write.reset();
    auto got = read_message(p.read.get(), "peer");
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("in the middle of a message"), std::string::npos);
  }
  {
    Pipe p;
    ASSERT_EQ(::write(p.write.get(), "SNPK\x7f\xff\xff\xff", 8), 8);
    auto got = read_message(p.read.get(), "peer");
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("more than the protocol allows"), std::string::npos);
  }
  {
    Pipe p;
    ASSERT_EQ(::write(p.write.get(), "SNPK\x00\x00\x00\x02[]", 10), 10);
    auto got = read_message(p.read.get(), "peer");
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("malformed"), std::string::npos);
  }
  {
    Pipe p;
    p.write.reset();
    auto got = read_message(p.read.get(), "peer");
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("closed the connection"), std::string::npos);
  }
}

TEST(RemoteFrame, ErrorsTravelWithTheirKindAndFlags) {
  Error original = runtime_error("destination /x is full");
  original.kind = ErrorKind::locked;
  original.full = true;
  original.drive_absent = true;
  Error back = error_from_message(error_message(original), "snapkeep serve on nas");
  EXPECT_EQ(back.kind, ErrorKind::locked);
  EXPECT_TRUE(back.full);
  EXPECT_TRUE(back.drive_absent);
  EXPECT_EQ(back.message, "snapkeep serve on nas: destination /x is full");
  // A hostile kind does not become one we do not have.
  Error odd = error_from_message({{"type", "error"}, {"kind", 99}, {"message", 5}, {"full", "yes"}}, "p");
  EXPECT_EQ(odd.kind, ErrorKind::runtime);
  EXPECT_FALSE(odd.full);
}

TEST(RemoteSecrets, TokensAreRandomHexAndComparedWhole) {
  auto a = random_hex(32);
  auto b = random_hex(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(is_hex_token(*a, 64));
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(same_secret(*a, *a));
  EXPECT_FALSE(same_secret(*a, *b));
  EXPECT_FALSE(same_secret(*a, a->substr(1)));
  EXPECT_FALSE(is_hex_token("../../etc/passwd", 16));
  EXPECT_FALSE(is_hex_token("ABCDEF0123456789", 16));
}

}  // namespace
}  // namespace snapkeep

// The documentation is this test's input: every ```sh block that README.md
// or a docs/*.md file marks with a `<!-- docs-test: run -->` line just above
// it runs, in document order, in one bash (set -euo pipefail), against a
// fresh local stack (support/e2e_stack.hpp: the four services, the real
// identity provider, PostgreSQL). A block that stops working, or a pipeline
// that reads a field the output does not have, fails the test with the
// document's file and line.
//
// The blocks are written for the stack scripts/demo --keep leaves running,
// from the repository's root. They run here from a directory laid out the
// same way: scripts/ is the repository's, .local/stack.env this stack's
// (the same variables scripts/lib/stack.sh writes), and bin/, first on
// PATH, holds the build's tools with `grpcurl` being cantdo-grpcurl, or
// the grpcurl named by CANTDO_DOCS_TEST_GRPCURL (to run the docs with the
// real one).

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "support/e2e_stack.hpp"

using namespace cantdo::e2e;
using cantdo::testing::BuildDir;
using cantdo::testing::ChildProcess;
using cantdo::testing::SourceDir;

namespace {

constexpr char kMarker[] = "<!-- docs-test: run -->";

struct Block {
  std::string file;  // relative to the repository
  int first_line;    // the document's line of the block's first line
  std::string text;
};

// The marked blocks of one document, in order. A marker not followed by a
// ```sh block is a mistake in the document: reported, not skipped.
std::vector<Block> MarkedBlocks(const std::string& file) {
  std::ifstream in(SourceDir() + "/" + file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<Block> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != kMarker) continue;
    INFO(file << ":" << i + 1 << ": a docs-test marker must sit right above a ```sh block");
    REQUIRE(i + 1 < lines.size());
    REQUIRE(lines[i + 1] == "```sh");
    Block b{file, static_cast<int>(i + 3), ""};
    size_t j = i + 2;
    for (; j < lines.size() && lines[j] != "```"; ++j) b.text += lines[j] + "\n";
    REQUIRE(j < lines.size());
    out.push_back(std::move(b));
    i = j;
  }
  return out;
}

std::vector<Block> AllMarkedBlocks() {
  std::vector<std::string> files = {"README.md"};
  std::vector<std::string> docs;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/docs")) {
    if (e.path().extension() == ".md") docs.push_back("docs/" + e.path().filename().string());
  }
  std::sort(docs.begin(), docs.end());
  files.insert(files.end(), docs.begin(), docs.end());
  std::vector<Block> out;
  for (const auto& f : files) {
    auto blocks = MarkedBlocks(f);
    out.insert(out.end(), blocks.begin(), blocks.end());
  }
  return out;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  REQUIRE(std::filesystem::exists(path));
}

// A shell word: single-quoted.
std::string Sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

TEST_CASE("e2e: every command block the docs mark runnable runs against the local stack", "[e2e][docs]") {
  const std::vector<Block> blocks = AllMarkedBlocks();
  // docs/operations.md marks its walkthrough and reference blocks; losing
  // the markers must not make this test pass on nothing.
  REQUIRE(std::count_if(blocks.begin(), blocks.end(), [](const Block& b) { return b.file == "docs/operations.md"; }) >=
          6);

  Stack s(StackOptions{.gateway_tokens = true});
  TempDir view;
  const std::string root = view.path();
  std::filesystem::create_directory_symlink(SourceDir() + "/scripts", root + "/scripts");
  std::filesystem::create_directories(root + "/.local");
  std::filesystem::create_directories(root + "/bin");
  std::filesystem::create_directories(root + "/certs");
  std::filesystem::create_directories(root + "/blocks");

  const char* other_grpcurl = std::getenv("CANTDO_DOCS_TEST_GRPCURL");
  const std::string grpcurl =
      other_grpcurl && *other_grpcurl ? other_grpcurl : BuildDir() + "/tools/grpcurl/cantdo-grpcurl";
  std::filesystem::create_symlink(grpcurl, root + "/bin/grpcurl");
  for (const char* tool : {"grpcurl/cantdo-grpcurl", "demo-platform/cantdo-demo-platform", "ledger/cantdo-ledger",
                           "migrate/cantdo-migrate"}) {
    const std::string t = tool;
    std::filesystem::create_symlink(BuildDir() + "/tools/" + t, root + "/bin/" + t.substr(t.find('/') + 1));
  }

  // .local/stack.env, as scripts/lib/stack.sh writes it for its stack.
  std::map<std::string, std::string> env = {{"CANTDO_GATEWAY_ADDR", s.gateway->address()},
                                            {"CANTDO_AUTHORITY_ADDR", s.authority->address()},
                                            {"CANTDO_WORKER_ADDR", s.worker->address()},
                                            {"CANTDO_CIBA_BRIDGE_ADDR", s.bridge->address()},
                                            {"CANTDO_ADMIN_DB_DSN", s.db.Dsn()},
                                            {"CANTDO_DEMO_DB_DSN", s.demo.Dsn()},
                                            {"CANTDO_DEMO_WORKER_DSN", s.demo_worker->dsn()},
                                            {"CANTDO_CIBA_ISSUER", s.idp->issuer()},
                                            {"CANTDO_CIBA_CLIENT_ID", "cantdo-ciba-bridge"},
                                            {"CANTDO_CIBA_CLIENT_SECRET_FILE", root + "/certs/idp_client_secret"},
                                            {"CANTDO_CIBA_CA_FILE", s.idp->ca_file()},
                                            {"CANTDO_IDP_DEVICE", s.idp->device()},
                                            {"CANTDO_IDP_JWKS_URI", s.idp->issuer() + "/jwks"},
                                            {"CANTDO_IDP_ROLES_CLAIM", s.idp->roles_claim()},
                                            {"CANTDO_GATEWAY_AUDIENCE", s.idp->gateway_audience()}};
  Write(root + "/certs/idp_client_secret", cantdo::testing::DevIdp::kSecret);
  for (const char* role : {"operator", "auditor", "platform", "worker"}) {
    auto files = s.pki.WriteFiles(root + "/certs", role);
    std::string upper = role;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    env["CANTDO_" + upper + "_CERT"] = files.cert;
    env["CANTDO_" + upper + "_KEY"] = files.key;
    env["CANTDO_CA"] = files.ca;
  }
  std::string stack_env;
  for (const auto& [k, v] : env) absl::StrAppend(&stack_env, "export ", k, "=", Sh(v), "\n");
  absl::StrAppend(&stack_env, "export PATH=", Sh(root + "/bin"), ":\"$PATH\"\n");
  Write(root + "/.local/stack.env", stack_env);

  // One bash for all blocks; the ERR trap names the document's line.
  std::string runner =
      "set -eEuo pipefail\n"
      "shopt -s inherit_errexit\n"
      "trap 'echo \"docs-test: failed at $DOC_FILE:$((DOC_LINE + LINENO - 1)): $BASH_COMMAND\" >&2' ERR\n"
      "cd " +
      Sh(root) + "\n";
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string file = absl::StrCat(root, "/blocks/", i, ".sh");
    Write(file, blocks[i].text);
    absl::StrAppend(&runner, "echo \"docs-test: ", blocks[i].file, ":", blocks[i].first_line, "\"\n",
                    "DOC_FILE=", blocks[i].file, " DOC_LINE=", blocks[i].first_line, "\n", "source ", Sh(file), "\n");
  }
  absl::StrAppend(&runner, "echo 'docs-test: every block ran'\n");
  Write(root + "/run.sh", runner);

  ChildProcess bash({"/bin/bash", root + "/run.sh"}, {{"IDP_WAIT_SECONDS", "60"}}, root + "/run.log");
  const std::optional<int> rc = bash.Wait(absl::Seconds(270));
  const std::string log = bash.Log();
  std::string failed;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StartsWith(line, "docs-test: failed at")) failed = std::string(line);
  }
  INFO("the docs' output, last 8000 bytes:\n" << (log.size() > 8000 ? log.substr(log.size() - 8000) : log));
  // The last trap line names the document's line of the command that
  // stopped the shell (earlier ones, if any, come from inside functions
  // and command substitutions on the way out).
  INFO(failed);
  REQUIRE(rc.has_value());
  REQUIRE(*rc == 0);
  REQUIRE(absl::StrContains(log, "docs-test: every block ran"));
}

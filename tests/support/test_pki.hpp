#pragma once
// A throwaway certificate authority for tests, made in memory with OpenSSL:
// no files, no fixed names, so every test can have its own PKI (and a
// second, untrusted one to show that its certificates are refused).

#include <memory>
#include <string>
#include <vector>

#include "cantdo/grpc/tls.hpp"

namespace cantdo::testing {

class TestPki {
 public:
  TestPki();  // a fresh P-256 CA
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_pem() const { return ca_pem_; }

  // A leaf for serving and as a client: URI SAN spiffe://cantdo/<identity>
  // (or none when identity is empty), DNS localhost, IP 127.0.0.1.
  grpc::TlsMaterial Issue(const std::string& identity);

  // Writes cert/key/ca of `identity` under `dir`; returns the three paths.
  struct Files {
    std::string cert, key, ca;
  };
  Files WriteFiles(const std::string& dir, const std::string& identity);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string ca_pem_;
};

// A new empty directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace cantdo::testing

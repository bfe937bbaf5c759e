#pragma once
// What a hostile caller of the trust boundaries needs: the real authority
// binary as a child process (its own database login, mutual TLS from the
// test's PKI, the deployment's policy), so that a crash is the process
// dying and a sanitizer report lands in its log (ServiceProcess fails the
// test on one); and calls that send arbitrary bytes as a request message,
// which no generated stub can.

#include <catch2/catch.hpp>

#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "cantdo/authority/v1/authority_service.grpc.pb.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "support/child_process.hpp"
#include "support/login_role.hpp"
#include "support/service_process.hpp"
#include "support/test_database.hpp"
#include "support/test_pki.hpp"
#include "support/token_signer.hpp"
#include "support/wait.hpp"

namespace cantdo::testing {

// A unary call of `method` (e.g. "/cantdo.authority.v1.AuthorityService/GetApproval")
// whose request message is exactly `bytes`.
inline absl::Status RawUnaryCall(const std::shared_ptr<::grpc::Channel>& channel, const std::string& method,
                                 const std::string& bytes) {
  ::grpc::Slice slice(bytes);
  ::grpc::ByteBuffer request(&slice, 1);
  ::grpc::ByteBuffer response;
  ::grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const ::grpc::internal::RpcMethod rpc(method.c_str(), ::grpc::internal::RpcMethod::NORMAL_RPC);
  return cantdo::grpc::FromGrpcStatus(::grpc::internal::BlockingUnaryCall<::grpc::ByteBuffer, ::grpc::ByteBuffer>(
      channel.get(), rpc, &ctx, request, &response));
}

// Protobuf wire format by hand: a length-delimited field.
inline std::string LengthDelimited(int field, const std::string& payload) {
  std::string out;
  auto varint = [&out](uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  varint(static_cast<uint64_t>(field) << 3 | 2);
  varint(payload.size());
  return out + payload;
}

// A google.protobuf.Struct nested `depth` levels deep: {"a": {"a": ... {}}}.
inline std::string NestedStruct(int depth) {
  std::string s;  // the innermost Struct is empty
  for (int i = 0; i < depth; ++i) {
    // Value{struct_value = 5}, map entry {key = 1, value = 2}, Struct{fields = 1}.
    const std::string value = LengthDelimited(5, s);
    const std::string entry = LengthDelimited(1, "a") + LengthDelimited(2, value);
    s = LengthDelimited(1, entry);
  }
  return s;
}

class AuthorityProcess {
 public:
  AuthorityProcess() {
    std::ofstream(dir.path() + "/jwks.json") << idp.Jwks();
    authority = std::make_unique<ServiceProcess>(
        pki, dir.path(), "authority", login.dsn(),
        std::map<std::string, std::string>{{"CANTDO_POLICY_FILE", SourceDir() + "/deploy/policy.json"},
                                           {"CANTDO_OIDC_ISSUER", "https://idp.test/"},
                                           {"CANTDO_OIDC_AUDIENCE", "cantdo-authority"},
                                           {"CANTDO_OIDC_JWKS_URI", dir.path() + "/jwks.json"}});
    authority->Start();
    auto health = ::grpc::health::v1::Health::NewStub(Channel("admin"));
    const bool serving = WaitUntil(
        [&] {
          ::grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          ::grpc::health::v1::HealthCheckResponse resp;
          return health->Check(&ctx, {}, &resp).ok() &&
                 resp.status() == ::grpc::health::v1::HealthCheckResponse::SERVING;
        },
        absl::Seconds(60));
    INFO(authority->Log());
    REQUIRE(serving);
  }

  std::shared_ptr<::grpc::Channel> Channel(const std::string& identity) {
    return cantdo::grpc::MakeMtlsChannel(authority->address(), pki.Issue(identity));
  }
  std::unique_ptr<cantdo::authority::v1::AuthorityService::Stub> Stub(const std::string& identity) {
    return cantdo::authority::v1::AuthorityService::NewStub(Channel(identity));
  }

  // One call of `method` on a stub for `identity`; the status it ended with.
  template <typename Req, typename Resp>
  absl::Status Call(const std::string& identity,
                    ::grpc::Status (cantdo::authority::v1::AuthorityService::Stub::*method)(::grpc::ClientContext*,
                                                                                            const Req&, Resp*),
                    const Req& req, Resp* resp = nullptr) {
    auto stub = Stub(identity);
    ::grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Resp ignored;
    return cantdo::grpc::FromGrpcStatus(((*stub).*method)(&ctx, req, resp ? resp : &ignored));
  }

  TempDir dir;
  TestPki pki;
  TestDatabase db{TestDatabase::kMigrated};
  LoginRole login{db, "cantdo_authority"};
  TokenSigner idp{"idp-rsa", TokenSigner::Alg::kRS256};
  std::unique_ptr<ServiceProcess> authority;
};

}  // namespace cantdo::testing

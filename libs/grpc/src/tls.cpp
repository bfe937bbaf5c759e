#include "cantdo/grpc/tls.hpp"

#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"
#include "cantdo/grpc/trace.hpp"

namespace cantdo::grpc {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  if (path.empty()) return InvalidArgument(what, "no file given");
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot open ", path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = text.str();
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return InvalidArgument(what, absl::StrCat(path, " is not a PEM file"));
  }
  return pem;
}

::grpc::ChannelArguments ChannelArgs(const std::string& target, const std::string& server_name) {
  ::grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  // Small messages: no bandwidth-delay probing (see server.cpp).
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // A "dns:///" target (a headless Service: one address per pod) gets its
  // calls round-robin over every address it resolves to; the servers'
  // maximum connection age makes clients re-resolve, so pods added later
  // get calls too. Other targets keep gRPC's pick_first, which, unlike
  // round_robin, does not reconnect in the background to an address no
  // call needs.
  if (target.rfind("dns:", 0) == 0) args.SetLoadBalancingPolicyName("round_robin");
  return args;
}

std::shared_ptr<::grpc::Channel> CreateChannel(const std::string& target,
                                               const std::shared_ptr<::grpc::ChannelCredentials>& credentials,
                                               const std::string& server_name,
                                               const std::vector<ClientInterceptorMaker>& interceptors) {
  // Trace context first, on every channel; then the service's own (metrics).
  std::vector<std::unique_ptr<::grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(MakeTraceClientInterceptorFactory());
  for (const auto& make : interceptors) factories.push_back(make());
  return ::grpc::experimental::CreateCustomChannelWithInterceptors(
      target, credentials, ChannelArgs(target, server_name), std::move(factories));
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const std::string& cert_file, const std::string& key_file,
                                            const std::string& ca_file, absl::Duration reload_interval) {
  TlsMaterial m;
  CANTDO_ASSIGN_OR_RETURN(m.cert_pem, ReadPem(cert_file, "tls-cert"));
  CANTDO_ASSIGN_OR_RETURN(m.key_pem, ReadPem(key_file, "tls-key"));
  CANTDO_ASSIGN_OR_RETURN(m.ca_pem, ReadPem(ca_file, "tls-ca"));
  const auto seconds = static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(reload_interval)));
  m.files =
      std::make_shared<::grpc::experimental::FileWatcherCertificateProvider>(key_file, cert_file, ca_file, seconds);
  return m;
}

std::shared_ptr<::grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& tls, ClientCertPolicy policy) {
  const auto request = policy == ClientCertPolicy::kRequireAndVerify
                           ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                           : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  if (tls.files) {
    ::grpc::experimental::TlsServerCredentialsOptions opts(tls.files);
    opts.watch_root_certs();
    opts.watch_identity_key_cert_pairs();
    opts.set_cert_request_type(request);
    return ::grpc::experimental::TlsServerCredentials(opts);
  }
  ::grpc::SslServerCredentialsOptions opts(policy == ClientCertPolicy::kRequireAndVerify
                                               ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                               : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = tls.ca_pem;
  opts.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return ::grpc::SslServerCredentials(opts);
}

std::shared_ptr<::grpc::Channel> MakeMtlsChannel(const std::string& target, const TlsMaterial& tls,
                                                 const std::string& server_name) {
  if (tls.files) {
    // Same checks as the Ssl credentials below: the server's chain against
    // the (watched) CA bundle, and its name against the target's host or
    // server_name.
    ::grpc::experimental::TlsChannelCredentialsOptions opts;
    opts.set_certificate_provider(tls.files);
    opts.set_verify_server_certs(true);
    opts.set_certificate_verifier(std::make_shared<::grpc::experimental::HostNameCertificateVerifier>());
    opts.watch_root_certs();
    opts.watch_identity_key_cert_pairs();
    return CreateChannel(target, ::grpc::experimental::TlsCredentials(opts), server_name, tls.client_interceptors);
  }
  ::grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = tls.ca_pem;
  opts.pem_private_key = tls.key_pem;
  opts.pem_cert_chain = tls.cert_pem;
  return CreateChannel(target, ::grpc::SslCredentials(opts), server_name, tls.client_interceptors);
}

std::shared_ptr<::grpc::Channel> MakeTlsChannel(const std::string& target, const std::string& ca_pem,
                                                const std::string& server_name) {
  ::grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca_pem;
  return CreateChannel(target, ::grpc::SslCredentials(opts), server_name, {});
}

}  // namespace cantdo::grpc

#include "cantdo/base/config.hpp"

#include <cstdlib>
#include <map>
#include <sstream>

#include <boost/program_options.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace po = boost::program_options;

namespace cantdo {

struct Options::Impl {
  std::string program;
  po::options_description desc;
  std::map<std::string, std::string> env_to_option;
  std::vector<std::string> required;
  // Converters run after parsing, e.g. duration strings to absl::Duration.
  std::vector<std::function<std::string()>> post;
  std::vector<std::function<std::string()>> checks;
  std::vector<std::unique_ptr<std::string>> duration_text;

  explicit Impl(std::string p, const std::string& summary)
      : program(std::move(p)), desc(summary + "\n\nOptions (flag, or environment variable)") {}

  void Register(const std::string& name) { env_to_option[EnvNameFor(name)] = name; }
};

std::string EnvNameFor(const std::string& option_name) {
  return "CANTDO_" + absl::AsciiStrToUpper(absl::StrReplaceAll(option_name, {{"-", "_"}}));
}

Options::Options(std::string program, std::string summary)
    : impl_(std::make_unique<Impl>(std::move(program), summary)) {
  impl_->desc.add_options()("help", "print this help and exit");
}

Options::~Options() = default;

Options& Options::String(const std::string& name, std::string* out, const std::string& help, bool required) {
  std::string text = absl::StrCat(help, " [", EnvNameFor(name), "]");
  if (required) {
    impl_->desc.add_options()(name.c_str(), po::value<std::string>(out), (text + " (required)").c_str());
    impl_->required.push_back(name);
  } else {
    impl_->desc.add_options()(name.c_str(), po::value<std::string>(out)->default_value(*out), text.c_str());
  }
  impl_->Register(name);
  return *this;
}

Options& Options::Int(const std::string& name, int* out, const std::string& help) {
  std::string text = absl::StrCat(help, " [", EnvNameFor(name), "]");
  impl_->desc.add_options()(name.c_str(), po::value<int>(out)->default_value(*out), text.c_str());
  impl_->Register(name);
  return *this;
}

Options& Options::Double(const std::string& name, double* out, const std::string& help) {
  std::string text = absl::StrCat(help, " [", EnvNameFor(name), "]");
  impl_->desc.add_options()(name.c_str(), po::value<double>(out)->default_value(*out), text.c_str());
  impl_->Register(name);
  return *this;
}

Options& Options::Bool(const std::string& name, bool* out, const std::string& help) {
  std::string text = absl::StrCat(help, " (true/false) [", EnvNameFor(name), "]");
  impl_->desc.add_options()(name.c_str(), po::value<bool>(out)->default_value(*out), text.c_str());
  impl_->Register(name);
  return *this;
}

Options& Options::Duration(const std::string& name, absl::Duration* out, const std::string& help) {
  auto text_holder = std::make_unique<std::string>(absl::FormatDuration(*out));
  std::string* text_ptr = text_holder.get();
  impl_->duration_text.push_back(std::move(text_holder));
  std::string text = absl::StrCat(help, " (e.g. 500ms, 30s, 72h) [", EnvNameFor(name), "]");
  impl_->desc.add_options()(name.c_str(), po::value<std::string>(text_ptr)->default_value(*text_ptr), text.c_str());
  impl_->Register(name);
  impl_->post.push_back([name, text_ptr, out]() -> std::string {
    if (!absl::ParseDuration(*text_ptr, out)) {
      return absl::StrCat("--", name, ": '", *text_ptr, "' is not a duration (e.g. 500ms, 30s, 72h)");
    }
    return "";
  });
  return *this;
}

Options& Options::Check(std::function<std::string()> check) {
  impl_->checks.push_back(std::move(check));
  return *this;
}

std::string Options::Help() const {
  std::ostringstream out;
  out << "usage: " << impl_->program << " [options]\n" << impl_->desc;
  return out.str();
}

absl::StatusOr<bool> Options::Parse(int argc, const char* const* argv) {
  return Parse(argc, argv, [](const char* n) { return std::getenv(n); });
}

absl::StatusOr<bool> Options::Parse(int argc, const char* const* argv,
                                    const std::function<const char*(const char*)>& getenv) {
  po::variables_map vm;
  std::vector<std::string> problems;
  try {
    po::store(po::parse_command_line(argc, argv, impl_->desc), vm);
    if (vm.count("help")) {
      std::fputs(Help().c_str(), stdout);
      return false;
    }
    // Environment second: po::store never overwrites a value already stored.
    po::parsed_options from_env(&impl_->desc);
    for (const auto& [env, option] : impl_->env_to_option) {
      if (const char* v = getenv(env.c_str()); v != nullptr) {
        po::option opt;
        opt.string_key = option;
        opt.value.push_back(v);
        opt.original_tokens = {env, v};
        from_env.options.push_back(std::move(opt));
      }
    }
    po::store(from_env, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    problems.push_back(e.what());
  }
  if (problems.empty()) {
    for (const auto& name : impl_->required) {
      if (!vm.count(name) || vm[name].as<std::string>().empty()) {
        problems.push_back(absl::StrCat("--", name, " (or ", EnvNameFor(name), ") is required"));
      }
    }
    for (auto& convert : impl_->post) {
      if (std::string p = convert(); !p.empty()) problems.push_back(p);
    }
    for (auto& check : impl_->checks) {
      if (std::string p = check(); !p.empty()) problems.push_back(p);
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(impl_->program, ": invalid configuration:\n  ",
                                                   absl::StrJoin(problems, "\n  "),
                                                   "\n(run with --help for all options)"));
  }
  return true;
}

}  // namespace cantdo

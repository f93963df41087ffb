#include "executor/server/text_format.h"

#include <fstream>
#include <sstream>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

namespace pelemay {
namespace {

// Collects text-format parse errors so they can be reported with positions.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (first.empty())
      first = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) + ": " + message;
  }
  std::string first;
};

}  // namespace

StatusOr<v1::Request> ReadRequestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument() << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string content = ss.str();

  v1::Request request;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(content, &request)) return request;
  v1::Request binary;
  if (binary.ParseFromString(content) && binary.kind_case() != v1::Request::KIND_NOT_SET) return binary;
  return InvalidArgument() << path << " is neither a text-format nor a binary pelemay.v1.Request ("
                           << "text format: " << errors.first << ")";
}

}  // namespace pelemay

// Reading a request file for `pelemay_executor run`: protobuf text format
// (what executor/examples/ hold), or the binary encoding of a Request.
#pragma once

#include <string>

#include "executor/core/status.h"
#include "pelemay.pb.h"

namespace pelemay {

StatusOr<v1::Request> ReadRequestFile(const std::string& path);

}  // namespace pelemay

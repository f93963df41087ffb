#include "executor/validate/tensor_payload.h"

#include "executor/kernels/convert.h"

namespace pelemay {

StatusOr<ConstTensorView> TensorPayload(const v1::Tensor& tensor, Buffer& storage, const shm::Arena* arena) {
  const auto dtype = DTypeFromWire(tensor.dtype());
  if (!dtype) return InvalidArgument() << "tensor has unknown dtype " << tensor.dtype();
  Shape shape(tensor.shape().begin(), tensor.shape().end());
  PELEMAY_RETURN_IF_ERROR(CheckShape(*dtype, shape));
  const int64_t bytes = *ByteSize(*dtype, shape);
  const int64_t elements = *ElementCount(shape);
  switch (tensor.payload_case()) {
    case v1::Tensor::kData: {
      if (static_cast<int64_t>(tensor.data().size()) != bytes)
        return InvalidArgument() << "tensor " << TypeString(*dtype, shape) << " needs " << bytes
                                 << " bytes of data, got " << tensor.data().size();
      const auto* p = reinterpret_cast<const std::byte*>(tensor.data().data());
      return ConstTensorView{*dtype, std::move(shape), {p, static_cast<size_t>(bytes)}};
    }
    case v1::Tensor::kLiteral: {
      const auto& lit = tensor.literal();
      const bool ints = IsInteger(*dtype);
      const int64_t want = IsComplex(*dtype) ? elements * 2 : elements;
      const int64_t got = ints ? lit.ints_size() : lit.floats_size();
      if (got != want || (ints ? lit.floats_size() : lit.ints_size()) != 0)
        return InvalidArgument() << "literal for " << TypeString(*dtype, shape) << " needs " << want << " "
                                 << (ints ? "ints" : "floats") << " and nothing else";
      storage = Buffer(bytes);
      VisitDType(*dtype, [&](auto tag) {
        using T = decltype(tag);
        T* out = reinterpret_cast<T*>(storage.bytes().data());
        for (int64_t i = 0; i < elements; ++i) {
          if constexpr (kIsComplex<T>) {
            using R = typename T::value_type;
            out[i] = T(static_cast<R>(lit.floats(2 * i)), static_cast<R>(lit.floats(2 * i + 1)));
          } else if constexpr (kIsInt<T>) {
            out[i] = kernels::ConvertValue<T, int64_t>(lit.ints(i));
          } else {
            out[i] = kernels::ConvertValue<T, double>(lit.floats(i));
          }
        }
      });
      return ConstTensorView{*dtype, std::move(shape), storage.bytes()};
    }
    case v1::Tensor::kArena: {
      if (arena == nullptr)
        return Unsupported() << "arena payloads need a shared-memory arena, and none is mapped (--arena)";
      const auto& ref = tensor.arena();
      // `bytes` came from checked arithmetic (CheckShape), so it is exact.
      if (ref.length() != static_cast<uint64_t>(bytes))
        return InvalidArgument() << "tensor " << TypeString(*dtype, shape) << " needs " << bytes
                                 << " bytes, its arena reference has " << ref.length();
      std::string error;
      auto span = arena->Slice(ref.offset(), ref.length(), static_cast<uint64_t>(DTypeSize(*dtype)), &error);
      if (!span) return InvalidArgument() << "arena reference of " << TypeString(*dtype, shape) << ": " << error;
      return ConstTensorView{*dtype, std::move(shape), *span};
    }
    case v1::Tensor::PAYLOAD_NOT_SET:
      if (bytes == 0) return ConstTensorView{*dtype, std::move(shape), {}};
      return InvalidArgument() << "tensor " << TypeString(*dtype, shape) << " has no payload";
  }
  return InvalidArgument() << "unknown tensor payload";
}

void SetTensor(DType dtype, const Shape& shape, std::span<const std::byte> bytes, v1::Tensor* out) {
  out->set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t d : shape) out->add_shape(d);
  out->set_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void SetArenaTensor(DType dtype, const Shape& shape, uint64_t offset, uint64_t length, v1::Tensor* out) {
  out->set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t d : shape) out->add_shape(d);
  out->mutable_arena()->set_offset(offset);
  out->mutable_arena()->set_length(length);
}

}  // namespace pelemay

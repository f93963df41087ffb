defmodule PelemayBackend.Proto.WireTest do
  # The wire codec on its own: varints, value ranges, encode errors, and the
  # malformed inputs decoding must turn into {:error, _}. No protoc needed.
  use ExUnit.Case, async: true

  import Bitwise

  alias PelemayBackend.Proto
  alias PelemayBackend.Proto.{Error, Schema, Wire}

  doctest PelemayBackend.Proto

  defp tag(number, wire_type), do: Wire.encode_varint(number <<< 3 ||| wire_type)
  defp bin(type, term), do: type |> Proto.encode!(term) |> IO.iodata_to_binary()

  # Whether `binary` is an element of the iodata (improper lists included).
  defp contains?(binary, binary) when is_binary(binary), do: true
  defp contains?([head | tail], binary), do: contains?(head, binary) or contains?(tail, binary)
  defp contains?(_, _), do: false

  defp decode_error(type, bytes) do
    assert {:error, %Error{op: :decode} = error} = Proto.decode(type, bytes)
    error
  end

  defp encode_error(type, term) do
    assert {:error, %Error{op: :encode} = error} = Proto.encode(type, term)
    error
  end

  describe "varints" do
    test "encode and decode at every length boundary" do
      for n <- [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 <<< 35,
            (1 <<< 63) - 1,
            1 <<< 63,
            (1 <<< 64) - 1
          ] do
        bytes = Wire.encode_varint(n)
        bits = length(Integer.digits(n, 2))
        assert byte_size(bytes) == max(1, div(bits + 6, 7)), "#{n}"
        assert Wire.decode_varint(bytes <> "rest") == {:ok, n, "rest"}
      end

      assert Wire.encode_varint(300) == <<0xAC, 0x02>>
      assert byte_size(Wire.encode_varint((1 <<< 64) - 1)) == 10
    end

    test "refuse negative numbers and numbers of 2^64 and more" do
      assert_raise FunctionClauseError, fn -> Wire.encode_varint(-1) end
      assert_raise FunctionClauseError, fn -> Wire.encode_varint(1 <<< 64) end
    end

    test "truncated, over 10 bytes, and the bits past the 64th" do
      assert Wire.decode_varint(<<>>) == {:error, :truncated_varint}
      assert Wire.decode_varint(<<0x80>>) == {:error, :truncated_varint}
      assert Wire.decode_varint(:binary.copy(<<0xFF>>, 9)) == {:error, :truncated_varint}
      assert Wire.decode_varint(:binary.copy(<<0xFF>>, 10) <> <<0>>) == {:error, :varint_too_long}
      # A 10th byte of 0x7F: only its lowest bit fits; the rest is dropped.
      assert Wire.decode_varint(:binary.copy(<<0xFF>>, 9) <> <<0x7F>>) ==
               {:ok, (1 <<< 64) - 1, ""}

      # Non-minimal encodings are valid.
      assert Wire.decode_varint(<<0x81, 0x80, 0x00>>) == {:ok, 1, ""}
    end

    test "zigzag" do
      for {n, z} <- [
            {0, 0},
            {-1, 1},
            {1, 2},
            {-2, 3},
            {2_147_483_647, 4_294_967_294},
            {-2_147_483_648, 4_294_967_295}
          ] do
        assert Wire.zigzag(n) == z
        assert Wire.unzigzag(z) == n
      end

      assert Wire.unzigzag(Wire.zigzag(-(1 <<< 63))) == -(1 <<< 63)
    end
  end

  describe "encoding" do
    test "int32 and int64 negatives are 10-byte varints; uint64 up to 2^64 - 1" do
      assert bin(:FaultRequest, %{exit_code: -1}) == <<24>> <> :binary.copy(<<0xFF>>, 9) <> <<1>>
      assert bin(:PadAxis, %{lo: -(1 <<< 63)}) == <<8>> <> :binary.copy(<<0x80>>, 9) <> <<1>>

      assert bin(:ArenaRef, %{offset: (1 <<< 64) - 1}) ==
               <<8>> <> :binary.copy(<<0xFF>>, 9) <> <<1>>
    end

    test "omits proto3 defaults, keeps set oneofs and optionals" do
      assert bin(:Stats, %{requests: 0, busy: 0}) == ""
      assert bin(:Error, %{code: :ERROR_CODE_UNSPECIFIED, message: ""}) == ""
      assert bin(:Error, %{code: 0}) == ""
      assert bin(:Error, %{instruction: 0}) == <<24, 0>>
      assert bin(:Attributes, %{keep_axes: false}) == <<56, 0>>
      assert bin(:Attributes, %{keep_axes: nil, axis: nil, axes: []}) == ""
      assert bin(:RunRequest, %{source: {:program_id, 0}}) == <<16, 0>>
      assert bin(:RunRequest, %{source: nil}) == ""
      assert bin(:Request, %{kind: {:ping, %{}}}) == <<74, 0>>
      assert bin(:Literal, %{floats: [-0.0]}) == <<10, 8, 0, 0, 0, 0, 0, 0, 0, 0x80>>
    end

    test "integers for doubles, iodata for bytes, integers for enums" do
      assert bin(:Literal, %{floats: [1]}) == bin(:Literal, %{floats: [1.0]})

      assert bin(:Tensor, %{payload: {:data, ["ab", ?c | "d"]}}) ==
               bin(:Tensor, %{payload: {:data, "abcd"}})

      assert bin(:TensorType, %{dtype: 11}) == bin(:TensorType, %{dtype: :DTYPE_F32})
      assert bin(:TensorType, %{dtype: -1}) == <<8>> <> :binary.copy(<<0xFF>>, 9) <> <<1>>
    end

    test "large bytes stay referenced in the iodata" do
      data = :binary.copy(<<1, 2, 3, 4>>, 100_000)
      {:ok, iodata} = Proto.encode(:Tensor, %{shape: [100_000], payload: {:data, data}})
      assert contains?(iodata, data)
    end

    test "errors name the field and the reason" do
      assert %Error{reason: {:unknown_message, :Nope}} = encode_error(:Nope, %{})

      assert %Error{path: [], reason: {:unknown_field, :bogus}} =
               encode_error(:Request, %{bogus: 1})

      # A oneof member used as a key.
      assert %Error{reason: {:unknown_field, :ping}} = encode_error(:Request, %{ping: %{}})

      assert %Error{path: [:kind], reason: {:not_in_oneof, :pong}} =
               encode_error(:Request, %{kind: {:pong, %{}}})

      assert %Error{reason: {:invalid_oneof_value, %{}}} = encode_error(:Request, %{kind: %{}})
      assert %Error{reason: {:invalid_value, :uint64, -1}} = encode_error(:Request, %{id: -1})

      assert %Error{reason: {:invalid_value, :uint64, 18_446_744_073_709_551_616}} =
               encode_error(:Request, %{id: 1 <<< 64})

      assert %Error{reason: {:invalid_value, :int32, 2_147_483_648}} =
               encode_error(:FaultRequest, %{exit_code: 1 <<< 31})

      assert %Error{reason: {:invalid_value, :int64, _}} = encode_error(:PadAxis, %{lo: 1 <<< 63})

      assert %Error{reason: {:invalid_value, :uint32, -1}} =
               encode_error(:Program, %{outputs: [0, -1]})

      assert %Error{reason: {:invalid_value, :uint64, 1.5}} = encode_error(:Request, %{id: 1.5})
      assert %Error{reason: {:invalid_value, :bool, 1}} = encode_error(:CancelResult, %{found: 1})

      assert %Error{reason: {:invalid_value, :double, "1"}} =
               encode_error(:Literal, %{floats: ["1"]})

      assert %Error{reason: {:invalid_value, :double, _}} =
               encode_error(:Literal, %{floats: [1 <<< 1100]})

      assert %Error{reason: {:invalid_value, :string, :op}} =
               encode_error(:Instruction, %{op: :op})

      assert %Error{reason: :invalid_utf8} = encode_error(:Instruction, %{op: <<0xFF>>})

      assert %Error{reason: {:invalid_value, :bytes, :not_iodata}} =
               encode_error(:Tensor, %{payload: {:data, [:x]}})

      assert %Error{reason: {:unknown_enum_value, :DType, :DTYPE_F31}} =
               encode_error(:TensorType, %{dtype: :DTYPE_F31})

      assert %Error{reason: {:invalid_value, {:enum, :DType}, 2_147_483_648}} =
               encode_error(:TensorType, %{dtype: 1 <<< 31})

      assert %Error{reason: {:expected_list, 3}} = encode_error(:TensorType, %{shape: 3})
      assert %Error{reason: {:improper_list, 2}} = encode_error(:TensorType, %{shape: [1 | 2]})
      assert %Error{reason: {:improper_list, 2}} = encode_error(:Info, %{ops: ["a" | 2]})

      assert %Error{
               path: [:run, :program, :instructions, :result],
               reason: {:expected_map, :TensorType, 5}
             } =
               encode_error(:Request, %{
                 kind: {:run, %{source: {:program, %{instructions: [%{result: 5}]}}}}
               })

      assert %Error{reason: {:expected_map, :Request, _}} = encode_error(:Request, id: 1)
      assert %Error{reason: {:expected_map, :Request, %URI{}}} = encode_error(:Request, %URI{})

      message = Exception.message(encode_error(:Request, %{kind: {:run, %{timeout_ms: -5}}}))
      assert message =~ "cannot encode Request at run.timeout_ms"
    end

    test "encode! raises the error" do
      assert_raise Error, "cannot encode Request: unknown field :x", fn ->
        Proto.encode!(:Request, %{x: 1})
      end

      assert_raise Error, ~r/truncated varint/, fn -> Proto.decode!(:Request, <<8>>) end
    end
  end

  describe "decoding" do
    test "fills every default" do
      assert Proto.decode(:Request, "") == {:ok, %{id: 0, kind: nil}}

      assert Proto.decode(:Attributes, "") ==
               {:ok,
                %{
                  axes: [],
                  permutation: [],
                  start: [],
                  strides: [],
                  padding: [],
                  axis: nil,
                  keep_axes: nil,
                  tie_break: :TIE_BREAK_LOW,
                  value: nil,
                  lhs_contract: [],
                  rhs_contract: [],
                  lhs_batch: [],
                  rhs_batch: [],
                  window_dimensions: [],
                  window_dilations: [],
                  input_dilation: [],
                  kernel_dilation: [],
                  feature_group_size: nil,
                  batch_group_size: nil,
                  left_side: nil,
                  lower: nil,
                  transpose_a: nil,
                  max_iter: nil,
                  eps: nil,
                  descending: nil,
                  reverse: nil,
                  length: nil
                }}

      assert Proto.decode(:Error, "") ==
               {:ok, %{code: :ERROR_CODE_UNSPECIFIED, message: "", instruction: nil}}
    end

    test "int32 and enums from 10-byte and from 5-byte negative varints" do
      ten = <<24>> <> :binary.copy(<<0xFF>>, 9) <> <<1>>
      assert Proto.decode!(:FaultRequest, ten).exit_code == -1
      # Some encoders write int32 -1 sign-extended to 32 bits only.
      assert Proto.decode!(:FaultRequest, <<24, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F>>).exit_code == -1
      assert Proto.decode!(:TensorType, <<8, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F>>).dtype == -1
      assert Proto.decode!(:TensorType, <<8, 99>>).dtype == 99
      # uint32 keeps the low 32 bits, bool is any non-zero value.
      assert Proto.decode!(:Program, <<24, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F>>).outputs == [
               0xFFFF_FFFF
             ]

      assert Proto.decode!(:CancelResult, <<8, 0x80, 0x01>>).found == true
    end

    test "doubles: NaN and infinities as atoms" do
      bytes =
        <<10, 32, 0::48, 0xF8, 0x7F, 0::48, 0xF0, 0x7F, 0::48, 0xF0, 0xFF, 1::48, 0xF0, 0x7F>>

      assert Proto.decode!(:Literal, bytes).floats == [:nan, :infinity, :neg_infinity, :nan]
    end

    test "bytes are sub-binaries of the input" do
      data = :binary.copy(<<7>>, 1000)
      bytes = bin(:Tensor, %{payload: {:data, data}})
      assert %{payload: {:data, ^data}} = Proto.decode!(:Tensor, bytes)
    end

    test "not a binary" do
      assert %Error{reason: {:not_a_binary, [1]}} = decode_error(:Request, [1])
      assert %Error{reason: {:unknown_message, :Nope}} = decode_error(:Nope, "")
    end

    test "malformed input is an error with a reason, never an exception" do
      ok_run = bin(:Request, %{id: 1, kind: {:run, %{source: {:program_id, 3}}}})

      cases = [
        {<<8>>, :truncated_varint},
        {<<8, 0x80>>, :truncated_varint},
        {<<0x80>>, :truncated_varint},
        {<<8>> <> :binary.copy(<<0xFF>>, 10) <> <<1>>, :varint_too_long},
        {:binary.copy(<<0x88>>, 11), :varint_too_long},
        {<<0>>, :invalid_field_number},
        {<<0, 0>>, :invalid_field_number},
        {<<6>>, :invalid_field_number},
        {<<14>>, {:invalid_wire_type, 6}},
        {<<15>>, {:invalid_wire_type, 7}},
        {tag(9, 2) <> <<5, 0>>, {:length_past_end, 5, 1}},
        {tag(9, 2) <> <<0xFF, 0xFF, 0xFF, 0xFF, 0x0F>>, {:length_past_end, 0xFFFF_FFFF, 0}},
        {tag(9, 2) <> :binary.copy(<<0xFF>>, 9) <> <<1>>, {:length_past_end, (1 <<< 64) - 1, 0}},
        {tag(9, 2), :truncated_varint},
        {tag(20, 1) <> <<1, 2, 3>>, :truncated_fixed64},
        {tag(20, 5) <> <<1, 2, 3>>, :truncated_fixed32},
        {tag(20, 4), {:unexpected_end_group, 20}},
        {tag(20, 3), :unterminated_group},
        {tag(20, 3) <> tag(1, 0) <> <<1>>, :unterminated_group},
        {tag(20, 3) <> tag(21, 4), {:mismatched_end_group, 20, 21}},
        {tag(20, 3) <> tag(20, 6), {:invalid_wire_type, 6}},
        {:binary.part(ok_run, 0, byte_size(ok_run) - 1), {:length_past_end, 2, 1}},
        # The top-level tag: field number 2^29 is one past the largest.
        {Wire.encode_varint(1 <<< 32), {:invalid_field_number, 1 <<< 29}}
      ]

      for {bytes, reason} <- cases do
        assert %Error{reason: ^reason} = decode_error(:Request, bytes), inspect(bytes)
      end
    end

    test "garbage nested inside a message names the path" do
      garbage = <<0x0F>>
      program = tag(2, 2) <> <<byte_size(garbage)>> <> garbage
      run = tag(1, 2) <> <<byte_size(program)>> <> program
      bytes = tag(1, 0) <> <<1>> <> tag(2, 2) <> <<byte_size(run)>> <> run

      assert %Error{path: [:run, :program, :instructions], reason: {:invalid_wire_type, 7}} =
               error = decode_error(:Request, bytes)

      assert Exception.message(error) ==
               "cannot decode Request at run.program.instructions: invalid wire type 7"
    end

    test "packed data of a wrong length, invalid UTF-8" do
      assert %Error{path: [:floats], reason: {:bad_packed_length, 7}} =
               decode_error(:Literal, <<10, 7, 0::56>>)

      assert %Error{path: [:shape], reason: :truncated_varint} =
               decode_error(:TensorType, <<18, 2, 1, 0x80>>)

      assert %Error{path: [:op], reason: :invalid_utf8} =
               decode_error(:Instruction, <<10, 1, 0xFF>>)

      assert %Error{path: [:info, :ops], reason: :invalid_utf8} =
               decode_error(:Response, <<66, 3, 74, 1, 0xC3>>)
    end

    test "unknown groups nest, up to a depth limit" do
      nested = fn depth ->
        IO.iodata_to_binary([List.duplicate(tag(20, 3), depth), List.duplicate(tag(20, 4), depth)])
      end

      assert Proto.decode(:Request, nested.(50) <> <<8, 1>>) == {:ok, %{id: 1, kind: nil}}
      assert %Error{reason: :nesting_too_deep} = decode_error(:Request, nested.(1000))
    end

    test "every message decodes the empty binary and round-trips its defaults" do
      for type <- Schema.messages() do
        assert {:ok, decoded} = Proto.decode(type, "")
        assert bin(type, decoded) == ""
      end
    end
  end
end

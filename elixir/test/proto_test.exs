defmodule PelemayBackend.ProtoTest do
  # Golden tests: the bytes protoc writes for hand-written text-format
  # messages are the bytes the Elixir encoder must produce, and decoding them
  # must give back the Elixir term. Then the reverse (protoc --decode of the
  # Elixir bytes), random messages of every type, the generic codec on every
  # scalar type (test/fixtures/all_types.proto), and unknown fields.
  use ExUnit.Case, async: true

  import Bitwise
  import PelemayBackend.Test.Terms, only: [f32: 1, text_bytes: 1]

  alias PelemayBackend.Proto
  alias PelemayBackend.Proto.{Schema, Wire}
  alias PelemayBackend.Test.{Descriptor, Gen, Protoc, Terms}

  @moduletag :protoc

  @max_u64 18_446_744_073_709_551_615
  @min_i64 -9_223_372_036_854_775_808
  @max_i64 9_223_372_036_854_775_807

  @add_data f32([1.0, 2.0, 3.0, 4.0])
  # Bytes that are not UTF-8 and include zeros: `bytes` must carry them as they are.
  @raw_bytes <<0, 255, 128, 0, 10, 13, 34, 92, 39>>

  @add_program %{
    inputs: [%{dtype: :DTYPE_F32, shape: [4]}, %{dtype: :DTYPE_F32, shape: [4]}],
    instructions: [
      %{op: "add", operands: [0, 1], result: %{dtype: :DTYPE_F32, shape: [4]}}
    ],
    outputs: [2]
  }

  @add_program_text """
  inputs { dtype: DTYPE_F32 shape: 4 }
  inputs { dtype: DTYPE_F32 shape: [4] }
  instructions { op: "add" operands: [0, 1] result { dtype: DTYPE_F32 shape: 4 } }
  outputs: 2
  """

  # An instruction that sets every attribute (not a valid program: the codec
  # does not care), with negative ints and explicit-presence defaults.
  @all_attrs %{
    axes: [0, 2],
    permutation: [2, 0, 1],
    start: [-3, 0, 7],
    strides: [1, 2, 300],
    padding: [%{lo: -3, hi: 2, interior: 1}, %{}, %{lo: @min_i64, hi: @max_i64}],
    axis: 0,
    keep_axes: false,
    tie_break: :TIE_BREAK_HIGH,
    value: %{dtype: :DTYPE_S64, shape: [], payload: {:literal, %{ints: [-1]}}},
    lhs_contract: [1],
    rhs_contract: [0],
    lhs_batch: [3],
    rhs_batch: [4]
  }

  @all_attrs_text """
  axes: [0, 2] permutation: [2, 0, 1] start: [-3, 0, 7] strides: [1, 2, 300]
  padding { lo: -3 hi: 2 interior: 1 } padding {} padding { lo: -9223372036854775808 hi: 9223372036854775807 }
  axis: 0 keep_axes: false tie_break: TIE_BREAK_HIGH
  value { dtype: DTYPE_S64 literal { ints: -1 } }
  lhs_contract: 1 rhs_contract: 0 lhs_batch: 3 rhs_batch: 4
  """

  @pad_program %{
    inputs: [%{dtype: :DTYPE_S32, shape: [5, 7]}],
    instructions: [
      %{
        op: "pad",
        operands: [0, 0],
        result: %{dtype: :DTYPE_S32, shape: [-3, 4_294_967_296]},
        attrs: @all_attrs
      },
      %{op: "negate", operands: [4_294_967_295], result: %{}, attrs: %{}},
      %{}
    ],
    outputs: [1, 1, 0]
  }

  @pad_program_text """
  inputs { dtype: DTYPE_S32 shape: [5, 7] }
  instructions {
    op: "pad" operands: [0, 0] result { dtype: DTYPE_S32 shape: [-3, 4294967296] }
    attrs { #{@all_attrs_text} }
  }
  instructions { op: "negate" operands: 4294967295 result {} attrs {} }
  instructions {}
  outputs: [1, 1, 0]
  """

  # {message, Elixir term, the same message in protobuf text format}
  @cases [
    # Requests: every kind.
    {:Request, %{}, ""},
    {:Request, %{id: 7, kind: {:ping, %{}}}, "id: 7 ping {}"},
    {:Request, %{id: 1, kind: {:info, %{}}}, "id: 1 info {}"},
    {:Request, %{id: 2, kind: {:stats, %{}}}, "id: 2 stats {}"},
    {:Request, %{id: @max_u64, kind: {:shutdown, %{}}}, "id: #{@max_u64} shutdown {}"},
    {:Request,
     %{
       id: 3,
       kind:
         {:run,
          %{
            source: {:program, @add_program},
            inputs: [
              %{dtype: :DTYPE_F32, shape: [4], payload: {:data, @add_data}},
              %{
                dtype: :DTYPE_F32,
                shape: [4],
                payload: {:literal, %{floats: [10.0, 20.0, 30.0, 0.5]}}
              }
            ],
            timeout_ms: 5000
          }}
     },
     """
     id: 3
     run {
       program { #{@add_program_text} }
       inputs { dtype: DTYPE_F32 shape: 4 data: #{text_bytes(@add_data)} }
       inputs { dtype: DTYPE_F32 shape: 4 literal { floats: [10, 20, 30, 0.5] } }
       timeout_ms: 5000
     }
     """},
    # A oneof member equal to its default is still sent.
    {:Request, %{id: 4, kind: {:run, %{source: {:program_id, 0}}}},
     "id: 4 run { program_id: 0 }"},
    {:Request,
     %{
       id: 5,
       kind:
         {:run,
          %{
            source: {:program_id, 42},
            inputs: [
              %{dtype: :DTYPE_U8, shape: [0], payload: {:arena, %{offset: @max_u64, length: 0}}},
              %{dtype: :DTYPE_U8, shape: [2, 0]}
            ]
          }}
     },
     """
     id: 5
     run {
       program_id: 42
       inputs { dtype: DTYPE_U8 shape: 0 arena { offset: #{@max_u64} } }
       inputs { dtype: DTYPE_U8 shape: [2, 0] }
     }
     """},
    {:Request, %{id: 6, kind: {:compile, %{program: @pad_program}}},
     "id: 6 compile { program { #{@pad_program_text} } }"},
    {:Request, %{id: 7, kind: {:compile, %{}}}, "id: 7 compile {}"},
    {:Request, %{id: 8, kind: {:release, %{program_id: 42}}}, "id: 8 release { program_id: 42 }"},
    {:Request, %{id: 9, kind: {:cancel, %{target_id: 3}}}, "id: 9 cancel { target_id: 3 }"},
    {:Request,
     %{
       id: 10,
       kind: {:fault, %{kind: :EXIT, when: :DURING_NEXT_RUN, exit_code: -3, delay_ms: 1500}}
     }, "id: 10 fault { kind: EXIT when: DURING_NEXT_RUN exit_code: -3 delay_ms: 1500 }"},
    {:Request, %{id: 11, kind: {:fault, %{kind: :SEGFAULT}}}, "id: 11 fault { kind: SEGFAULT }"},
    {:Request, %{id: 12, kind: {:fault, %{}}}, "id: 12 fault {}"},
    # Responses: every kind.
    {:Response, %{}, ""},
    {:Response,
     %{
       id: 9,
       kind:
         {:error,
          %{
            code: :INVALID_ARGUMENT,
            message: "add: shapes differ — [2,3] ≠ [3,2]",
            instruction: 1
          }}
     },
     ~s(id: 9 error { code: INVALID_ARGUMENT message: "add: shapes differ — [2,3] ≠ [3,2]" instruction: 1 })},
    # An optional equal to its default is still sent.
    {:Response, %{id: 10, kind: {:error, %{code: :INTERNAL, instruction: 0}}},
     "id: 10 error { code: INTERNAL instruction: 0 }"},
    {:Response, %{id: 11, kind: {:error, %{code: :NOT_FOUND, message: "program 42"}}},
     ~s(id: 11 error { code: NOT_FOUND message: "program 42" })},
    {:Response, %{id: 0, kind: {:error, %{instruction: -3}}}, "error { instruction: -3 }"},
    {:Response,
     %{
       id: 3,
       kind:
         {:run,
          %{
            outputs: [
              %{dtype: :DTYPE_F32, shape: [4], payload: {:data, f32([11.0, 22.0, 33.0, 4.5])}},
              %{dtype: :DTYPE_U8, shape: [9], payload: {:data, @raw_bytes}},
              %{dtype: :DTYPE_F64, shape: [], payload: {:data, ""}}
            ],
            compute_us: 123
          }}
     },
     """
     id: 3
     run {
       outputs { dtype: DTYPE_F32 shape: 4 data: #{text_bytes(f32([11.0, 22.0, 33.0, 4.5]))} }
       outputs { dtype: DTYPE_U8 shape: 9 data: #{text_bytes(@raw_bytes)} }
       outputs { dtype: DTYPE_F64 data: "" }
       compute_us: 123
     }
     """},
    {:Response, %{id: 4, kind: {:compile, %{program_id: 1}}}, "id: 4 compile { program_id: 1 }"},
    {:Response, %{id: 5, kind: {:release, %{released: true}}},
     "id: 5 release { released: true }"},
    {:Response, %{id: 6, kind: {:cancel, %{found: false}}}, "id: 6 cancel { found: false }"},
    {:Response,
     %{
       id: 7,
       kind:
         {:stats,
          %{
            requests: 1,
            runs: 2,
            errors: 3,
            cached_programs: 4,
            bytes_in: 5,
            bytes_out: 6,
            tensor_bytes_live: 7,
            tensor_bytes_peak: @max_u64,
            rss_anon_bytes: 1 <<< 40,
            busy: 1,
            spin_moves: 11,
            spin_backoffs: 1 <<< 33
          }}
     },
     """
     id: 7 stats {
       requests: 1 runs: 2 errors: 3 cached_programs: 4 bytes_in: 5 bytes_out: 6
       tensor_bytes_live: 7 tensor_bytes_peak: #{@max_u64} rss_anon_bytes: #{1 <<< 40} busy: 1
       spin_moves: 11 spin_backoffs: #{1 <<< 33}
     }
     """},
    {:Response,
     %{
       id: 8,
       kind:
         {:info,
          %{
            version: "0.1.0",
            protocol_version: 1,
            simd_targets_compiled: ["AVX2", "SSE4", "SCALAR"],
            simd_target_chosen: "AVX2",
            memory_budget_bytes: 1_073_741_824,
            max_frame_bytes: 268_435_456,
            threads: 2,
            program_cache_capacity: 256,
            ops: ["add", "", "dot"]
          }}
     },
     """
     id: 8 info {
       version: "0.1.0" protocol_version: 1
       simd_targets_compiled: ["AVX2", "SSE4", "SCALAR"] simd_target_chosen: "AVX2"
       memory_budget_bytes: 1073741824 max_frame_bytes: 268435456 threads: 2
       program_cache_capacity: 256 ops: "add" ops: "" ops: "dot"
     }
     """},
    {:Response, %{id: 9, kind: {:shutdown, %{}}}, "id: 9 shutdown {}"},
    {:Response, %{id: 10, kind: {:pong, %{}}}, "id: 10 pong {}"},
    {:Response, %{id: 11, kind: {:fault, %{}}}, "id: 11 fault {}"},
    # Every other message on its own.
    {:TensorType, %{dtype: :DTYPE_C128, shape: [-3, 0, @max_i64, @min_i64]},
     "dtype: DTYPE_C128 shape: [-3, 0, #{@max_i64}, #{@min_i64}]"},
    {:TensorType, %{}, ""},
    {:ArenaRef, %{offset: 4096, length: @max_u64}, "offset: 4096 length: #{@max_u64}"},
    {:ArenaRef, %{}, ""},
    {:Literal,
     %{
       floats: [1.0, -0.0, :nan, :infinity, :neg_infinity, 1.0e300, 5.0e-324, -2.5],
       ints: [-1, 0, 1, @min_i64, @max_i64, -3]
     },
     "floats: [1, -0, nan, inf, -inf, 1e300, 5e-324, -2.5] ints: [-1, 0, 1, #{@min_i64}, #{@max_i64}, -3]"},
    {:Literal, %{floats: [0.0]}, "floats: 0"},
    {:Tensor, %{dtype: :DTYPE_U8, shape: [9], payload: {:data, @raw_bytes}},
     "dtype: DTYPE_U8 shape: 9 data: #{text_bytes(@raw_bytes)}"},
    {:Tensor, %{dtype: :DTYPE_BF16, payload: {:data, ""}}, ~s(dtype: DTYPE_BF16 data: "")},
    {:Tensor, %{dtype: :DTYPE_S8, shape: [2], payload: {:arena, %{offset: 1, length: 2}}},
     "dtype: DTYPE_S8 shape: 2 arena { offset: 1 length: 2 }"},
    {:Tensor, %{payload: {:arena, %{}}}, "arena {}"},
    {:Tensor, %{dtype: :DTYPE_C64, shape: [1], payload: {:literal, %{floats: [1.5, -2.0]}}},
     "dtype: DTYPE_C64 shape: 1 literal { floats: [1.5, -2] }"},
    {:Tensor, %{payload: {:literal, %{}}}, "literal {}"},
    {:PadAxis, %{lo: -3, hi: -1, interior: 2}, "lo: -3 hi: -1 interior: 2"},
    {:PadAxis, %{}, ""},
    {:Attributes, @all_attrs, @all_attrs_text},
    {:Attributes, %{keep_axes: true, axis: -1}, "keep_axes: true axis: -1"},
    {:Attributes, %{}, ""},
    {:Instruction, %{op: "transpose", operands: [0], attrs: %{permutation: [1, 0]}},
     "op: \"transpose\" operands: 0 attrs { permutation: [1, 0] }"},
    {:Instruction, %{}, ""},
    {:Program, @pad_program, @pad_program_text},
    {:Program, %{}, ""},
    {:RunRequest, %{source: {:program, %{}}, timeout_ms: 1}, "program {} timeout_ms: 1"},
    {:RunRequest, %{}, ""},
    {:CompileRequest, %{program: @add_program}, "program { #{@add_program_text} }"},
    {:CompileRequest, %{}, ""},
    {:ReleaseRequest, %{program_id: 1 <<< 63}, "program_id: #{1 <<< 63}"},
    {:CancelRequest, %{target_id: 127}, "target_id: 127"},
    {:CancelRequest, %{target_id: 128}, "target_id: 128"},
    {:FaultRequest, %{kind: :SLOW, delay_ms: 10}, "kind: SLOW delay_ms: 10"},
    {:FaultRequest, %{exit_code: -2_147_483_648}, "exit_code: -2147483648"},
    {:FaultRequest, %{exit_code: 2_147_483_647}, "exit_code: 2147483647"},
    {:StatsRequest, %{}, ""},
    {:InfoRequest, %{}, ""},
    {:ShutdownRequest, %{}, ""},
    {:PingRequest, %{}, ""},
    {:Error, %{code: :CANCELLED, message: "", instruction: @min_i64},
     "code: CANCELLED instruction: #{@min_i64}"},
    {:Error, %{}, ""},
    {:RunResult, %{compute_us: 1}, "compute_us: 1"},
    {:RunResult, %{outputs: [%{}, %{}]}, "outputs {} outputs {}"},
    {:CompileResult, %{program_id: 300}, "program_id: 300"},
    {:ReleaseResult, %{released: true}, "released: true"},
    {:CancelResult, %{found: true}, "found: true"},
    {:Stats, %{busy: 0, runs: 16_384}, "runs: 16384"},
    {:Info, %{ops: ["é", "€", "😀"], protocol_version: 4_294_967_295},
     ~s(protocol_version: 4294967295 ops: ["é", "€", "😀"])},
    {:Pong, %{}, ""},
    {:FaultAck, %{}, ""},
    {:ShutdownAck, %{}, ""}
  ]

  # Every value of every enum used by a field, in the field that uses it.
  @enum_cases (for {dtype, _} <- Schema.enum_values(:DType) do
                 {:TensorType, %{dtype: dtype, shape: [1]}, "dtype: #{dtype} shape: 1"}
               end) ++
                (for {code, _} <- Schema.enum_values(:ErrorCode) do
                   {:Error, %{code: code}, "code: #{code}"}
                 end) ++
                (for {kind, _} <- Schema.enum_values(:"FaultRequest.Kind"),
                     {w, _} <- Schema.enum_values(:"FaultRequest.When") do
                   {:FaultRequest, %{kind: kind, when: w}, "kind: #{kind} when: #{w}"}
                 end) ++
                (for {tie, _} <- Schema.enum_values(:TieBreak) do
                   {:Attributes, %{tie_break: tie}, "tie_break: #{tie}"}
                 end) ++
                [
                  # Enum numbers with no name: kept as integers.
                  {:TensorType, %{dtype: 99}, "dtype: 99"},
                  {:TensorType, %{dtype: -5}, "dtype: -5"}
                ]

  defp full_name(type), do: "#{Schema.package()}.#{type}"

  defp golden!(type, text, opts \\ []) do
    {name, opts} = Keyword.pop(opts, :full_name, full_name(type))

    case Protoc.encode(name, text, opts) do
      {:ok, bytes} -> bytes
      {:error, output} -> flunk("protoc --encode=#{name} rejected:\n#{text}\n#{output}")
    end
  end

  defp protoc_decode!(type, bytes, opts \\ []) do
    {name, opts} = Keyword.pop(opts, :full_name, full_name(type))

    case Protoc.decode(name, bytes, opts) do
      {:ok, text} -> text
      {:error, output} -> flunk("protoc --decode=#{name} rejected #{inspect(bytes)}:\n#{output}")
    end
  end

  @fixture_opts [proto_path: Protoc.fixtures_dir(), file: "all_types.proto"]

  defp fixture_golden!(type, text),
    do: golden!(type, text, [full_name: "pelemay.test.#{type}"] ++ @fixture_opts)

  defp fixture_decode!(type, bytes),
    do: protoc_decode!(type, bytes, [full_name: "pelemay.test.#{type}"] ++ @fixture_opts)

  defp tag(number, wire_type), do: Wire.encode_varint(number <<< 3 ||| wire_type)

  defp len(binary), do: Wire.encode_varint(byte_size(binary))

  defp encode_bin!(type, term), do: type |> Proto.encode!(term) |> IO.iodata_to_binary()

  # A line `123: ...` or `123 {` in protoc's output is a field it does not know.
  defp unknown_field_lines(text),
    do: text |> String.split("\n") |> Enum.filter(&Regex.match?(~r/^\s*\d+(:| \{)/, &1))

  describe "hand-written messages, against protoc" do
    test "cover every message of the schema and every Request/Response kind" do
      cased = @cases |> Enum.map(&elem(&1, 0)) |> MapSet.new()
      missing = Enum.reject(Schema.messages(), &MapSet.member?(cased, &1))
      assert missing == [], "no golden case for #{inspect(missing)}"

      for type <- [:Request, :Response] do
        members = Schema.compiled().messages[type].oneofs.kind

        seen = for {^type, %{kind: {member, _}}, _} <- @cases, into: MapSet.new(), do: member

        assert Enum.reject(members, &MapSet.member?(seen, &1)) == [],
               "#{type}: kinds without a golden case"
      end
    end

    for {{type, term, text}, index} <- Enum.with_index(@cases ++ @enum_cases) do
      @tag case: index
      test "#{type} ##{index}: #{String.slice(String.replace(text, ~r/\s+/, " "), 0, 60)}" do
        type = unquote(type)
        {term, text} = {unquote(Macro.escape(term)), unquote(text)}
        golden = golden!(type, text)

        # Encoder: exactly protoc's bytes.
        assert encode_bin!(type, term) == golden

        # Decoder: protoc's bytes give the term, with every default filled in.
        expected = Terms.complete(Schema.compiled(), type, term)
        assert Proto.decode(type, golden) == {:ok, expected}

        # Reverse: protoc reads the Elixir bytes as the same message, with no
        # field it does not know, and writes them back identically.
        decoded_text = protoc_decode!(type, golden)
        assert unknown_field_lines(decoded_text) == []
        assert golden!(type, decoded_text) == golden
      end
    end

    test "protoc's text for the Elixir bytes names the fields set" do
      bytes = encode_bin!(:Request, %{id: 10, kind: {:fault, %{kind: :EXIT, exit_code: -3}}})
      text = protoc_decode!(:Request, bytes)
      assert text =~ ~r/id: 10/
      assert text =~ ~r/fault \{\s*kind: EXIT\s*exit_code: -3\s*\}/
    end

    test "a negative int32 or int64 is a 10-byte varint, as protoc writes it" do
      assert golden!(:FaultRequest, "exit_code: -3") ==
               <<3 <<< 3, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01>>

      assert encode_bin!(:FaultRequest, %{exit_code: -3}) ==
               golden!(:FaultRequest, "exit_code: -3")

      assert encode_bin!(:PadAxis, %{lo: -3}) == golden!(:PadAxis, "lo: -3")
      assert byte_size(encode_bin!(:PadAxis, %{lo: -3})) == 11
    end

    test "repeated scalars are packed: one tag and a length for the whole list" do
      bytes = encode_bin!(:TensorType, %{shape: [1, 2, 3]})
      assert bytes == <<2 <<< 3 ||| 2, 3, 1, 2, 3>>
      assert bytes == golden!(:TensorType, "shape: [1, 2, 3]")
    end
  end

  describe "random messages of every type, against protoc" do
    setup do
      :rand.seed(:exsss, {2024, 11, 28})
      :ok
    end

    for type <- Schema.messages() do
      test "#{type}" do
        type = unquote(type)
        schema = Schema.compiled()

        for _ <- 1..6 do
          term = Gen.message(schema, type)
          bytes = encode_bin!(type, term)
          assert Proto.decode(type, bytes) == {:ok, term}

          text = protoc_decode!(type, bytes)
          assert unknown_field_lines(text) == [], "protoc saw unknown fields in #{inspect(term)}"
          assert golden!(type, text) == bytes, "protoc re-encodes #{inspect(term)} differently"
        end
      end
    end
  end

  describe "every scalar type and label (test/fixtures/all_types.proto)" do
    setup do
      {:ok, set} = Protoc.descriptor_set(Protoc.fixtures_dir(), "all_types.proto")
      {:ok, decoded} = Descriptor.decode_set(set)
      definition = Descriptor.to_definition(decoded, "all_types.proto")
      %{schema: Schema.compile(definition)}
    end

    test "the fixture's schema has every type and label", %{schema: schema} do
      types = for {_, m} <- schema.messages, f <- m.fields, uniq: true, do: f.type

      for t <- ~w(double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64
                  sfixed32 sfixed64 bool string bytes)a do
        assert t in types
      end

      labels = for {_, m} <- schema.messages, f <- m.fields, uniq: true, do: f.label
      assert Enum.sort(labels) == Enum.sort([:singular, :optional, :repeated, :oneof])
    end

    test "hand-written edge values", %{schema: schema} do
      cases = [
        {:Scalars,
         %{
           f_double: -0.0,
           f_float: 1.5,
           f_int32: -1,
           f_int64: @min_i64,
           f_uint32: 4_294_967_295,
           f_uint64: @max_u64,
           f_sint32: -2_147_483_648,
           f_sint64: @min_i64,
           f_fixed32: 4_294_967_295,
           f_fixed64: @max_u64,
           f_sfixed32: -2_147_483_648,
           f_sfixed64: @min_i64,
           f_bool: true,
           f_string: "é\0€",
           f_bytes: @raw_bytes,
           f_enum: :NEGATIVE,
           f_message: %{f_sint32: 1, f_message: %{f_float: :neg_infinity}},
           f_high: 1
         },
         """
         f_double: -0 f_float: 1.5 f_int32: -1 f_int64: #{@min_i64}
         f_uint32: 4294967295 f_uint64: #{@max_u64} f_sint32: -2147483648 f_sint64: #{@min_i64}
         f_fixed32: 4294967295 f_fixed64: #{@max_u64} f_sfixed32: -2147483648 f_sfixed64: #{@min_i64}
         f_bool: true f_string: "é\\000€" f_bytes: #{text_bytes(@raw_bytes)} f_enum: NEGATIVE
         f_message { f_sint32: 1 f_message { f_float: -inf } } f_high: 1
         """},
        {:Scalars, %{f_float: :nan, f_double: :infinity, f_sint64: @max_i64, f_sint32: -1},
         "f_float: nan f_double: inf f_sint64: #{@max_i64} f_sint32: -1"},
        {:Repeated,
         %{
           r_double: [1.0, :nan],
           r_float: [-1.0, 0.0],
           r_int32: [-1, 0, 1],
           r_sint32: [-1, 1],
           r_sint64: [@min_i64],
           r_fixed32: [1, 2],
           r_fixed64: [3],
           r_sfixed32: [-1],
           r_sfixed64: [-2],
           r_bool: [true, false, true],
           r_string: ["", "a"],
           r_bytes: ["", <<0>>],
           r_enum: [:RED, :NEGATIVE, 7],
           r_message: [%{}, %{f_int32: 3}]
         },
         """
         r_double: [1, nan] r_float: [-1, 0] r_int32: [-1, 0, 1] r_sint32: [-1, 1]
         r_sint64: #{@min_i64} r_fixed32: [1, 2] r_fixed64: 3 r_sfixed32: -1 r_sfixed64: -2
         r_bool: [true, false, true] r_string: ["", "a"] r_bytes: ["", "\\000"]
         r_enum: [RED, NEGATIVE, 7] r_message {} r_message { f_int32: 3 }
         """},
        {:Optionals,
         %{
           o_double: 0.0,
           o_float: 0.0,
           o_int32: 0,
           o_int64: 0,
           o_uint64: 0,
           o_sint64: 0,
           o_fixed32: 0,
           o_bool: false,
           o_string: "",
           o_bytes: "",
           o_enum: :COLOR_UNSPECIFIED,
           o_message: %{}
         },
         """
         o_double: 0 o_float: 0 o_int32: 0 o_int64: 0 o_uint64: 0 o_sint64: 0 o_fixed32: 0
         o_bool: false o_string: "" o_bytes: "" o_enum: COLOR_UNSPECIFIED o_message {}
         """},
        {:Oneofs, %{before: 1, first: {:d, :COLOR_UNSPECIFIED}, second: {:g, 0}, after: 2},
         "before: 1 d: COLOR_UNSPECIFIED g: 0 after: 2"},
        {:Oneofs, %{first: {:e, 0.0}}, "e: 0"},
        {:Oneofs, %{first: {:f, ""}, second: {:h, %{}}}, ~s(f: "" h {})},
        {:Oneofs, %{first: {:c, %{f_high: 536_870_911}}}, "c { f_high: 536870911 }"},
        {:Empty, %{}, ""}
      ]

      for {type, term, text} <- cases do
        golden = fixture_golden!(type, text)
        {:ok, iodata} = Wire.encode(schema, type, term)
        assert IO.iodata_to_binary(iodata) == golden, "#{type}: #{text}"

        assert Wire.decode(schema, type, golden) ==
                 {:ok, Terms.complete(schema, type, term)}
      end
    end

    test "random messages round-trip through protoc", %{schema: schema} do
      :rand.seed(:exsss, {7, 7, 7})

      for type <- [:Scalars, :Repeated, :Optionals, :Oneofs, :Empty], _ <- 1..15 do
        term = Gen.message(schema, type)
        {:ok, iodata} = Wire.encode(schema, type, term)
        bytes = IO.iodata_to_binary(iodata)
        assert Wire.decode(schema, type, bytes) == {:ok, term}

        text = fixture_decode!(type, bytes)
        assert unknown_field_lines(text) == []
        assert fixture_golden!(type, text) == bytes, "#{type}: #{inspect(term)}"
      end
    end

    test "unpacked repeated scalars (what proto2 and [packed = false] write) decode too",
         %{schema: schema} do
      :rand.seed(:exsss, {8, 8, 8})

      for _ <- 1..30 do
        term = Gen.message(schema, :Unpacked)
        {:ok, iodata} = Wire.encode(schema, :Unpacked, term)
        packed = IO.iodata_to_binary(iodata)
        # protoc reads the packed form and writes one tag per value.
        unpacked = fixture_golden!(:Unpacked, fixture_decode!(:Unpacked, packed))
        assert Wire.decode(schema, :Unpacked, unpacked) == {:ok, term}

        if Enum.any?(Map.values(term), &(length(&1) > 1)) do
          refute unpacked == packed
        end
      end
    end
  end

  describe "unknown fields" do
    # One unknown field of every wire type, a group holding a nested group.
    defp unknown_fields do
      IO.iodata_to_binary([
        [tag(100, 0), Wire.encode_varint(300)],
        [tag(101, 1), <<1::64>>],
        [tag(102, 2), 3, "abc"],
        [tag(103, 3), tag(1, 0), 5, tag(2, 3), tag(1, 5), <<0::32>>, tag(2, 4), tag(103, 4)],
        [tag(104, 5), <<7::32>>],
        [tag(536_870_911, 0), 1]
      ])
    end

    test "of every wire type are skipped, at the top and inside nested messages" do
      u = unknown_fields()
      instruction = tag(1, 2) <> len("add") <> "add" <> u
      program = u <> tag(2, 2) <> len(instruction) <> instruction <> tag(3, 0) <> <<3>> <> u
      run = u <> tag(1, 2) <> len(program) <> program
      bytes = u <> tag(1, 0) <> <<7>> <> u <> tag(2, 2) <> len(run) <> run <> u
      assert byte_size(run) > 127

      # protoc agrees the bytes are well formed, and sees the unknown fields.
      text = protoc_decode!(:Request, bytes)
      assert text =~ ~r/^100: 300$/m
      assert text =~ ~r/^103 \{/m

      assert {:ok, %{id: 7, kind: {:run, run_request}}} = Proto.decode(:Request, bytes)

      assert {:program, %{outputs: [3], inputs: [], instructions: [instruction]}} =
               run_request.source

      assert instruction == %{op: "add", operands: [], result: nil, attrs: nil}
    end

    test "a known field with another wire type is skipped, as protoc does" do
      # id (uint64, varint) sent as fixed32, then shape (packed int64) as fixed64.
      bytes = tag(1, 5) <> <<7::32>> <> tag(9, 2) <> <<0>>
      text = protoc_decode!(:Request, bytes)
      refute text =~ "id:"
      assert Proto.decode(:Request, bytes) == {:ok, %{id: 0, kind: {:ping, %{}}}}

      bytes = tag(2, 1) <> <<5::64>>
      assert Proto.decode(:TensorType, bytes) == {:ok, %{dtype: :DTYPE_INVALID, shape: []}}
      refute protoc_decode!(:TensorType, bytes) =~ "shape:"
    end

    test "fields in any order, repeated scalars unpacked, later scalars win, messages merge" do
      bytes =
        IO.iodata_to_binary([
          [tag(2, 0), 4],
          [tag(1, 0), 11],
          [tag(2, 2), 2, 5, 6],
          [tag(2, 0), 7],
          [tag(1, 0), 12]
        ])

      assert Proto.decode(:TensorType, bytes) ==
               {:ok, %{dtype: :DTYPE_F64, shape: [4, 5, 6, 7]}}

      assert protoc_decode!(:TensorType, bytes) ==
               protoc_decode!(
                 :TensorType,
                 encode_bin!(:TensorType, %{dtype: :DTYPE_F64, shape: [4, 5, 6, 7]})
               )

      # Two occurrences of a message field merge; of a oneof member too.
      a = encode_bin!(:Instruction, %{op: "a", operands: [1], result: %{dtype: :DTYPE_U8}})
      b = encode_bin!(:Instruction, %{operands: [2], result: %{shape: [3]}})

      merged =
        {:ok,
         Terms.complete(Schema.compiled(), :Instruction, %{
           op: "a",
           operands: [1, 2],
           result: %{dtype: :DTYPE_U8, shape: [3]}
         })}

      assert Proto.decode(:Instruction, a <> b) == merged

      assert golden!(:Instruction, protoc_decode!(:Instruction, a <> b)) ==
               encode_bin!(:Instruction, elem(merged, 1))

      r1 = encode_bin!(:Response, %{id: 1, kind: {:error, %{code: :INTERNAL, instruction: 4}}})
      r2 = encode_bin!(:Response, %{kind: {:error, %{message: "m"}}})
      r3 = encode_bin!(:Response, %{kind: {:pong, %{}}})

      assert Proto.decode!(:Response, r1 <> r2).kind ==
               {:error, %{code: :INTERNAL, message: "m", instruction: 4}}

      assert Proto.decode!(:Response, r1 <> r2 <> r3) == %{id: 1, kind: {:pong, %{}}}

      assert Proto.decode!(:Response, r3 <> r1).kind ==
               {:error, %{code: :INTERNAL, message: "", instruction: 4}}
    end
  end
end

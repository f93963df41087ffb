defmodule PelemayBackend.Proto.Schema do
  @moduledoc """
  `proto/pelemay.proto` (package `pelemay.v1`) described as data, for the
  schema-driven codec in `PelemayBackend.Proto.Wire`.

  Written by hand; `test/proto/schema_sync_test.exs` compiles the `.proto`
  with `protoc --descriptor_set_out`, decodes the descriptor set with this
  codec and asserts that it describes exactly the same messages, fields,
  numbers, types, labels, oneofs and enums. When the `.proto` changes, that
  test names the difference to carry over here.

  ## The definition format

  `definition/0` returns `%{package: string, enums: [enum], messages: [message]}`:

    * an enum is `{name, [{value_name, number}, ...]}`;
    * a message is `{name, [field, ...]}`, a field is
      `{number, name, type, label}`.

  Names are atoms; a nested message or enum is named `:"Outer.Inner"` (as in
  `:"FaultRequest.Kind"`). `type` is a scalar type atom (`:double`, `:float`,
  `:int32`, `:int64`, `:uint32`, `:uint64`, `:sint32`, `:sint64`, `:fixed32`,
  `:fixed64`, `:sfixed32`, `:sfixed64`, `:bool`, `:string`, `:bytes`),
  `{:enum, name}` or `{:message, name}`. `label` is `:singular` (proto3
  implicit presence), `:optional` (explicit presence: proto3 `optional`, or
  any proto2 optional field), `:repeated`, or `{:oneof, oneof_name}`.

  `compile/1` turns a definition into the lookup structure the codec reads;
  `compiled/0` is this schema's, built at compile time.
  """

  @definition %{
    package: "pelemay.v1",
    enums: [
      {:ProtocolVersion, [PROTOCOL_VERSION_UNSPECIFIED: 0, PROTOCOL_VERSION: 1]},
      {:DType,
       [
         DTYPE_INVALID: 0,
         DTYPE_S8: 1,
         DTYPE_S16: 2,
         DTYPE_S32: 3,
         DTYPE_S64: 4,
         DTYPE_U8: 5,
         DTYPE_U16: 6,
         DTYPE_U32: 7,
         DTYPE_U64: 8,
         DTYPE_F16: 9,
         DTYPE_BF16: 10,
         DTYPE_F32: 11,
         DTYPE_F64: 12,
         DTYPE_C64: 13,
         DTYPE_C128: 14
       ]},
      {:TieBreak, [TIE_BREAK_LOW: 0, TIE_BREAK_HIGH: 1]},
      {:"FaultRequest.Kind",
       [
         FAULT_KIND_UNSPECIFIED: 0,
         SEGFAULT: 1,
         ABORT: 2,
         EXIT: 3,
         HANG: 4,
         ALLOCATE: 5,
         GARBAGE_REPLY: 6,
         TRUNCATED_REPLY: 7,
         SLOW: 8,
         FORBIDDEN_OPEN: 9,
         FORBIDDEN_SOCKET: 10,
         FORBIDDEN_EXEC: 11
       ]},
      {:"FaultRequest.When", [NOW: 0, DURING_NEXT_RUN: 1]},
      {:ErrorCode,
       [
         ERROR_CODE_UNSPECIFIED: 0,
         INVALID_ARGUMENT: 1,
         UNSUPPORTED: 2,
         RESOURCE_EXHAUSTED: 3,
         CANCELLED: 4,
         DEADLINE_EXCEEDED: 5,
         INTERNAL: 6,
         NOT_FOUND: 7
       ]}
    ],
    messages: [
      {:TensorType,
       [
         {1, :dtype, {:enum, :DType}, :singular},
         {2, :shape, :int64, :repeated}
       ]},
      {:ArenaRef,
       [
         {1, :offset, :uint64, :singular},
         {2, :length, :uint64, :singular}
       ]},
      {:Literal,
       [
         {1, :floats, :double, :repeated},
         {2, :ints, :int64, :repeated}
       ]},
      {:Tensor,
       [
         {1, :dtype, {:enum, :DType}, :singular},
         {2, :shape, :int64, :repeated},
         {3, :data, :bytes, {:oneof, :payload}},
         {4, :arena, {:message, :ArenaRef}, {:oneof, :payload}},
         {5, :literal, {:message, :Literal}, {:oneof, :payload}}
       ]},
      {:PadAxis,
       [
         {1, :lo, :int64, :singular},
         {2, :hi, :int64, :singular},
         {3, :interior, :int64, :singular}
       ]},
      {:Attributes,
       [
         {1, :axes, :int64, :repeated},
         {2, :permutation, :int64, :repeated},
         {3, :start, :int64, :repeated},
         {4, :strides, :int64, :repeated},
         {5, :padding, {:message, :PadAxis}, :repeated},
         {6, :axis, :int64, :optional},
         {7, :keep_axes, :bool, :optional},
         {8, :tie_break, {:enum, :TieBreak}, :singular},
         {9, :value, {:message, :Tensor}, :singular},
         {10, :lhs_contract, :int64, :repeated},
         {11, :rhs_contract, :int64, :repeated},
         {12, :lhs_batch, :int64, :repeated},
         {13, :rhs_batch, :int64, :repeated},
         {20, :window_dimensions, :int64, :repeated},
         {21, :window_dilations, :int64, :repeated},
         {22, :input_dilation, :int64, :repeated},
         {23, :kernel_dilation, :int64, :repeated},
         {24, :feature_group_size, :int64, :optional},
         {25, :batch_group_size, :int64, :optional},
         {30, :descending, :bool, :optional},
         {31, :reverse, :bool, :optional},
         {32, :length, :int64, :optional},
         {35, :left_side, :bool, :optional},
         {36, :lower, :bool, :optional},
         {37, :transpose_a, :bool, :optional},
         {38, :max_iter, :int64, :optional},
         {39, :eps, :double, :optional}
       ]},
      {:Instruction,
       [
         {1, :op, :string, :singular},
         {2, :operands, :uint32, :repeated},
         {3, :result, {:message, :TensorType}, :singular},
         {4, :attrs, {:message, :Attributes}, :singular}
       ]},
      {:Program,
       [
         {1, :inputs, {:message, :TensorType}, :repeated},
         {2, :instructions, {:message, :Instruction}, :repeated},
         {3, :outputs, :uint32, :repeated}
       ]},
      {:RunRequest,
       [
         {1, :program, {:message, :Program}, {:oneof, :source}},
         {2, :program_id, :uint64, {:oneof, :source}},
         {3, :inputs, {:message, :Tensor}, :repeated},
         {4, :timeout_ms, :uint64, :singular},
         {5, :fault, {:message, :FaultRequest}, :singular},
         {6, :output_arena, {:message, :ArenaRef}, :singular},
         {7, :output_arena_min_bytes, :uint64, :singular}
       ]},
      {:CompileRequest, [{1, :program, {:message, :Program}, :singular}]},
      {:ReleaseRequest, [{1, :program_id, :uint64, :singular}]},
      {:CancelRequest, [{1, :target_id, :uint64, :singular}]},
      {:FaultRequest,
       [
         {1, :kind, {:enum, :"FaultRequest.Kind"}, :singular},
         {2, :when, {:enum, :"FaultRequest.When"}, :singular},
         {3, :exit_code, :int32, :singular},
         {4, :delay_ms, :uint64, :singular}
       ]},
      {:StatsRequest, []},
      {:InfoRequest, []},
      {:ShutdownRequest, []},
      {:PingRequest, []},
      {:Request,
       [
         {1, :id, :uint64, :singular},
         {2, :run, {:message, :RunRequest}, {:oneof, :kind}},
         {3, :compile, {:message, :CompileRequest}, {:oneof, :kind}},
         {4, :release, {:message, :ReleaseRequest}, {:oneof, :kind}},
         {5, :cancel, {:message, :CancelRequest}, {:oneof, :kind}},
         {6, :stats, {:message, :StatsRequest}, {:oneof, :kind}},
         {7, :info, {:message, :InfoRequest}, {:oneof, :kind}},
         {8, :shutdown, {:message, :ShutdownRequest}, {:oneof, :kind}},
         {9, :ping, {:message, :PingRequest}, {:oneof, :kind}},
         {10, :fault, {:message, :FaultRequest}, {:oneof, :kind}}
       ]},
      {:Error,
       [
         {1, :code, {:enum, :ErrorCode}, :singular},
         {2, :message, :string, :singular},
         {3, :instruction, :int64, :optional}
       ]},
      {:RunResult,
       [
         {1, :outputs, {:message, :Tensor}, :repeated},
         {2, :compute_us, :uint64, :singular}
       ]},
      {:CompileResult, [{1, :program_id, :uint64, :singular}]},
      {:ReleaseResult, [{1, :released, :bool, :singular}]},
      {:CancelResult, [{1, :found, :bool, :singular}]},
      {:Stats,
       [
         {1, :requests, :uint64, :singular},
         {2, :runs, :uint64, :singular},
         {3, :errors, :uint64, :singular},
         {4, :cached_programs, :uint64, :singular},
         {5, :bytes_in, :uint64, :singular},
         {6, :bytes_out, :uint64, :singular},
         {7, :tensor_bytes_live, :uint64, :singular},
         {8, :tensor_bytes_peak, :uint64, :singular},
         {9, :rss_anon_bytes, :uint64, :singular},
         {10, :busy, :uint64, :singular},
         {11, :spin_moves, :uint64, :singular},
         {12, :spin_backoffs, :uint64, :singular}
       ]},
      {:Info,
       [
         {1, :version, :string, :singular},
         {2, :protocol_version, :uint32, :singular},
         {3, :simd_targets_compiled, :string, :repeated},
         {4, :simd_target_chosen, :string, :singular},
         {5, :memory_budget_bytes, :uint64, :singular},
         {6, :max_frame_bytes, :uint64, :singular},
         {7, :threads, :uint32, :singular},
         {8, :program_cache_capacity, :uint64, :singular},
         {9, :ops, :string, :repeated},
         {10, :sandbox, :string, :singular},
         {11, :arena_path, :string, :singular},
         {12, :arena_bytes, :uint64, :singular},
         {13, :spin_us, :uint32, :singular}
       ]},
      {:Pong, []},
      {:FaultAck, []},
      {:ShutdownAck, []},
      {:Response,
       [
         {1, :id, :uint64, :singular},
         {2, :error, {:message, :Error}, {:oneof, :kind}},
         {3, :run, {:message, :RunResult}, {:oneof, :kind}},
         {4, :compile, {:message, :CompileResult}, {:oneof, :kind}},
         {5, :release, {:message, :ReleaseResult}, {:oneof, :kind}},
         {6, :cancel, {:message, :CancelResult}, {:oneof, :kind}},
         {7, :stats, {:message, :Stats}, {:oneof, :kind}},
         {8, :info, {:message, :Info}, {:oneof, :kind}},
         {9, :shutdown, {:message, :ShutdownAck}, {:oneof, :kind}},
         {10, :pong, {:message, :Pong}, {:oneof, :kind}},
         {11, :fault, {:message, :FaultAck}, {:oneof, :kind}}
       ]}
    ]
  }

  @typedoc "A message or enum name: `:Request`, `:\"FaultRequest.Kind\"`."
  @type name :: atom()

  @doc "The hand-written description of `proto/pelemay.proto` (format in the moduledoc)."
  @spec definition() :: map()
  def definition, do: @definition

  @doc "The protobuf package: `\"pelemay.v1\"`."
  @spec package() :: String.t()
  def package, do: @definition.package

  @doc "The names of every message, in file order."
  @spec messages() :: [name()]
  def messages, do: Enum.map(@definition.messages, &elem(&1, 0))

  @doc "The names of every enum, in file order."
  @spec enums() :: [name()]
  def enums, do: Enum.map(@definition.enums, &elem(&1, 0))

  @doc "The fields of a message as `{number, name, type, label}`, or nil for an unknown name."
  @spec fields(name()) :: [tuple()] | nil
  def fields(message) do
    case List.keyfind(@definition.messages, message, 0) do
      {_, fields} -> fields
      nil -> nil
    end
  end

  @doc "The values of an enum as `[{value_name, number}]`, or nil for an unknown name."
  @spec enum_values(name()) :: keyword(integer()) | nil
  def enum_values(enum) do
    case List.keyfind(@definition.enums, enum, 0) do
      {_, values} -> values
      nil -> nil
    end
  end

  @doc """
  Checks a definition and compiles it into the structure the codec reads.
  See `PelemayBackend.Proto.Schema.Compiler.compile/1`.
  """
  @spec compile(map()) :: map()
  defdelegate compile(definition), to: PelemayBackend.Proto.Schema.Compiler

  @compiled PelemayBackend.Proto.Schema.Compiler.compile(@definition)

  @doc "This schema, compiled (see `compile/1`)."
  @spec compiled() :: map()
  def compiled, do: @compiled
end

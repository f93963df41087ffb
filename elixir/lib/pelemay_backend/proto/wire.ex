defmodule PelemayBackend.Proto.Wire do
  @moduledoc """
  A protobuf wire-format encoder and decoder driven by a compiled schema
  (`PelemayBackend.Proto.Schema.compile/1`). It implements proto3, and of
  proto2 what reading `descriptor.proto` needs (optional fields with
  presence, unpacked repeated fields); not proto2 custom defaults, required
  fields, extensions or groups as declared fields (unknown groups are skipped).

  ## Representation

    * A message is a map with atom keys, one per field; a oneof is one key
      (the oneof's name) holding `nil` or `{field_name, value}`, e.g.
      `%{id: 1, kind: {:run, %{...}}}`.
    * Scalars: integers, `true`/`false`, binaries (`string` must be UTF-8).
      `double`/`float` are floats, or `:infinity`, `:neg_infinity`, `:nan`
      (the BEAM has no such floats); integers are accepted when encoding.
    * Enums are atoms (`:DTYPE_F32`); a number with no name decodes to the
      integer, and integers are accepted when encoding.
    * Repeated fields are lists.

  **Encoding** omits what proto3 omits: singular scalars equal to their
  default (0, `""`, `false`, the zero enum value; a double only when its bits
  are all zero, so `-0.0` is sent), `nil` messages and optionals, empty lists.
  A oneof member and an `optional` field are sent whenever set, even with a
  default value. Missing keys are defaults; an unknown key is an error.
  Repeated scalars are packed. Fields go out in field-number order, so the
  bytes equal those of the C++ library (and `protoc --encode`). The result
  is iodata: large `bytes` values are referenced, not copied.

  **Decoding** fills every key: proto3 defaults (0, `""`, `false`, the zero
  enum value's atom, `[]`), `nil` for absent messages, optionals and oneofs.
  It accepts packed and unpacked repeated scalars, merges a message field
  that occurs twice (as protobuf does), lets the last value of a scalar or
  of a oneof win, and skips unknown fields of every wire type (groups
  included) — as does a known field that arrives with a wire type other than
  its own. Unknown fields are dropped, not kept for re-encoding. `bytes`
  values are sub-binaries of the input: no copy, but they keep the whole
  input alive (`:binary.copy/1` one that outlives the frame by long).

  Malformed input never raises: truncated varints or fields, varints over 10
  bytes, lengths past the end, wire types 6 and 7, field number 0, stray or
  mismatched end-group tags, packed fixed-width data of a wrong length,
  invalid UTF-8 in a `string`, nesting deeper than 100 levels all give
  `{:error, %PelemayBackend.Proto.Error{}}`.
  """

  import Bitwise

  alias PelemayBackend.Proto.Error

  @max_depth 100
  @max_field_number 536_870_911
  @mask32 0xFFFF_FFFF
  @mask64 0xFFFF_FFFF_FFFF_FFFF

  @int32_range -0x8000_0000..0x7FFF_FFFF
  @int64_min -0x8000_0000_0000_0000
  @int64_max 0x7FFF_FFFF_FFFF_FFFF

  ## Public API

  @doc """
  Encodes `map` as message `type` of `schema`. Returns `{:ok, iodata}`.
  """
  @spec encode(map(), atom(), map()) :: {:ok, iodata()} | {:error, Error.t()}
  def encode(schema, type, map) do
    case schema.messages do
      %{^type => message} ->
        try do
          {:ok, encode_message(schema, message, map, [])}
        catch
          :throw, {__MODULE__, reason, path} ->
            {:error, %Error{op: :encode, type: type, path: Enum.reverse(path), reason: reason}}
        end

      _ ->
        {:error, %Error{op: :encode, type: type, reason: {:unknown_message, type}}}
    end
  end

  @doc """
  Decodes `binary` as message `type` of `schema`. Returns `{:ok, map}`.
  """
  @spec decode(map(), atom(), binary()) :: {:ok, map()} | {:error, Error.t()}
  def decode(schema, type, binary) when is_binary(binary) do
    case schema.messages do
      %{^type => message} ->
        try do
          {:ok, decode_message(schema, message, binary, [], 0)}
        catch
          :throw, {__MODULE__, reason, path} ->
            {:error, %Error{op: :decode, type: type, path: Enum.reverse(path), reason: reason}}
        end

      _ ->
        {:error, %Error{op: :decode, type: type, reason: {:unknown_message, type}}}
    end
  end

  def decode(_schema, type, other) do
    {:error, %Error{op: :decode, type: type, reason: {:not_a_binary, other}}}
  end

  @doc "Encodes a non-negative integer below 2^64 as a varint."
  @spec encode_varint(non_neg_integer()) :: binary()
  def encode_varint(n) when is_integer(n) and n >= 0 and n < 128, do: <<n>>

  def encode_varint(n) when is_integer(n) and n >= 128 and n <= @mask64,
    do: <<1::1, n &&& 127::7, encode_varint(n >>> 7)::binary>>

  @doc """
  Decodes one varint from the front of `binary`: `{:ok, value, rest}`, or
  `{:error, :truncated_varint | :varint_too_long}`. Bits past the 64th of a
  10-byte varint are dropped, as protobuf does.
  """
  @spec decode_varint(binary()) :: {:ok, non_neg_integer(), binary()} | {:error, atom()}
  def decode_varint(binary) do
    case varint(binary, 0, 0) do
      {value, rest} -> {:ok, value, rest}
      error when is_atom(error) -> {:error, error}
    end
  end

  @doc "Zigzag encoding (for sint32/sint64)."
  @spec zigzag(integer()) :: non_neg_integer()
  def zigzag(n) when n >= 0, do: n <<< 1
  def zigzag(n), do: (-n <<< 1) - 1

  @doc "Zigzag decoding."
  @spec unzigzag(non_neg_integer()) :: integer()
  def unzigzag(n) when (n &&& 1) == 0, do: n >>> 1
  def unzigzag(n), do: -((n + 1) >>> 1)

  @doc "The wire type of a field type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32."
  @spec wire_type(atom() | tuple()) :: 0 | 1 | 2 | 5
  def wire_type(type) do
    case type do
      t when t in [:int32, :int64, :uint32, :uint64, :sint32, :sint64, :bool] -> 0
      {:enum, _} -> 0
      t when t in [:fixed64, :sfixed64, :double] -> 1
      t when t in [:string, :bytes] -> 2
      {:message, _} -> 2
      t when t in [:fixed32, :sfixed32, :float] -> 5
    end
  end

  ## Encoding

  defp encode_message(schema, message, map, path) when is_map(map) and not is_struct(map) do
    check_keys(message, map, path)
    encode_fields(message.fields, schema, map, path)
  end

  defp encode_message(_schema, message, other, path),
    do: fail({:expected_map, message.name, other}, path)

  # Unknown keys and malformed oneof values are errors. This runs for every
  # message of every request, so the common case (all keys known) only
  # counts the known keys present (no allocation) and compares the count
  # with the map's size.
  defp check_keys(message, map, path) do
    if count_present(message.key_list, map, 0) != map_size(map) do
      unknown = map |> Map.drop(message.key_list) |> Map.keys() |> Enum.min()
      fail({:unknown_field, unknown}, path)
    end

    check_oneofs(message.oneof_list, map, path)
  end

  defp count_present([], _map, n), do: n

  defp count_present([key | keys], map, n) when is_map_key(map, key),
    do: count_present(keys, map, n + 1)

  defp count_present([_ | keys], map, n), do: count_present(keys, map, n)

  defp check_oneofs([], _map, _path), do: :ok

  defp check_oneofs([{oneof, members} | rest], map, path) do
    case map do
      %{^oneof => {member, _}} when is_atom(member) ->
        :lists.member(member, members) || fail({:not_in_oneof, member}, [oneof | path])

      %{^oneof => value} when value != nil ->
        fail({:invalid_oneof_value, value}, [oneof | path])

      _ ->
        :ok
    end

    check_oneofs(rest, map, path)
  end

  defp encode_fields([], _schema, _map, _path), do: []

  defp encode_fields([field | fields], schema, map, path) do
    [encode_field(field, schema, map, path) | encode_fields(fields, schema, map, path)]
  end

  defp encode_field(%{label: :repeated} = field, schema, map, path) do
    path = [field.name | path]

    case Map.get(map, field.name) do
      nil ->
        []

      [] ->
        []

      list when is_list(list) and field.packed ->
        payload = encode_packed(list, schema, field.type, path)
        [field.packed_tag, encode_varint(IO.iodata_length(payload)) | payload]

      list when is_list(list) ->
        encode_unpacked(list, schema, field, path)

      other ->
        fail({:expected_list, other}, path)
    end
  end

  defp encode_field(%{label: :oneof, oneof: oneof, name: name} = field, schema, map, path) do
    case map do
      %{^oneof => {^name, value}} ->
        [field.tag | encode_value(schema, field.type, value, [name | path])]

      _ ->
        []
    end
  end

  defp encode_field(%{label: :optional, name: name} = field, schema, map, path) do
    case map do
      %{^name => nil} -> []
      %{^name => value} -> [field.tag | encode_value(schema, field.type, value, [name | path])]
      _ -> []
    end
  end

  defp encode_field(%{label: :singular, name: name} = field, schema, map, path) do
    case map do
      %{^name => nil} ->
        []

      %{^name => value} ->
        if implicit_default?(field, value, schema) do
          []
        else
          [field.tag | encode_value(schema, field.type, value, [name | path])]
        end

      _ ->
        []
    end
  end

  defp encode_packed([], _schema, _type, _path), do: []

  defp encode_packed([value | rest], schema, type, path),
    do: [encode_value(schema, type, value, path) | encode_packed(rest, schema, type, path)]

  defp encode_packed(improper, _schema, _type, path), do: fail({:improper_list, improper}, path)

  defp encode_unpacked([], _schema, _field, _path), do: []

  defp encode_unpacked([value | rest], schema, field, path) do
    [
      field.tag,
      encode_value(schema, field.type, value, path)
      | encode_unpacked(rest, schema, field, path)
    ]
  end

  defp encode_unpacked(improper, _schema, _field, path),
    do: fail({:improper_list, improper}, path)

  # Proto3 implicit presence: a singular field equal to its default is not
  # sent. The common cases compare with the precomputed default; the rest
  # (an enum or float given as an integer, floats by their bits, iodata
  # bytes) go through default?/3.
  defp implicit_default?(%{type: {:message, _}}, _value, _schema), do: false

  defp implicit_default?(%{type: type}, value, _schema) when type in [:double, :float],
    do: value === 0 or (is_float(value) and <<value::float-64>> == <<0::64>>)

  defp implicit_default?(%{implicit_default: value}, value, _schema), do: true
  defp implicit_default?(%{type: type}, value, schema), do: default?(schema, type, value)

  defp default?(_schema, {:message, _}, _value), do: false
  defp default?(_schema, :bool, value), do: value == false
  defp default?(_schema, :string, value), do: value == ""
  defp default?(_schema, :bytes, value), do: value == "" or value == []

  defp default?(_schema, type, value) when type in [:double, :float] do
    value === 0 or (is_float(value) and <<value::float-64>> == <<0::64>>)
  end

  defp default?(schema, {:enum, enum}, value) when is_atom(value),
    do: Map.get(schema.enums[enum].by_name, value) == 0

  defp default?(_schema, _type, value), do: value === 0

  defp encode_value(%{messages: messages} = schema, {:message, name}, value, path) do
    %{^name => message} = messages
    iodata = encode_message(schema, message, value, path)
    [encode_varint(IO.iodata_length(iodata)) | iodata]
  end

  defp encode_value(%{enums: enums}, {:enum, enum}, value, path) when is_atom(value) do
    %{^enum => %{by_name: by_name}} = enums

    case by_name do
      %{^value => number} -> encode_varint(number &&& @mask64)
      _ -> fail({:unknown_enum_value, enum, value}, path)
    end
  end

  defp encode_value(_schema, {:enum, _}, value, _path) when value in @int32_range,
    do: encode_varint(value &&& @mask64)

  defp encode_value(_schema, :int32, value, _path) when value in @int32_range,
    do: encode_varint(value &&& @mask64)

  defp encode_value(_schema, :int64, value, _path)
       when is_integer(value) and value >= @int64_min and value <= @int64_max,
       do: encode_varint(value &&& @mask64)

  defp encode_value(_schema, :uint32, value, _path) when value in 0..@mask32,
    do: encode_varint(value)

  defp encode_value(_schema, :uint64, value, _path)
       when is_integer(value) and value >= 0 and value <= @mask64,
       do: encode_varint(value)

  defp encode_value(_schema, :sint32, value, _path) when value in @int32_range,
    do: encode_varint(zigzag(value))

  defp encode_value(_schema, :sint64, value, _path)
       when is_integer(value) and value >= @int64_min and value <= @int64_max,
       do: encode_varint(zigzag(value))

  defp encode_value(_schema, :bool, true, _path), do: <<1>>
  defp encode_value(_schema, :bool, false, _path), do: <<0>>

  defp encode_value(_schema, :fixed32, value, _path) when value in 0..@mask32,
    do: <<value::little-32>>

  defp encode_value(_schema, :sfixed32, value, _path) when value in @int32_range,
    do: <<value::little-signed-32>>

  defp encode_value(_schema, :fixed64, value, _path)
       when is_integer(value) and value >= 0 and value <= @mask64,
       do: <<value::little-64>>

  defp encode_value(_schema, :sfixed64, value, _path)
       when is_integer(value) and value >= @int64_min and value <= @int64_max,
       do: <<value::little-signed-64>>

  defp encode_value(_schema, :double, value, _path) when is_float(value),
    do: <<value::float-little-64>>

  defp encode_value(_schema, :double, :infinity, _path), do: <<0::48, 0xF0, 0x7F>>
  defp encode_value(_schema, :double, :neg_infinity, _path), do: <<0::48, 0xF0, 0xFF>>
  defp encode_value(_schema, :double, :nan, _path), do: <<0::48, 0xF8, 0x7F>>

  defp encode_value(_schema, :float, value, _path) when is_float(value),
    do: <<value::float-little-32>>

  defp encode_value(_schema, :float, :infinity, _path), do: <<0, 0, 0x80, 0x7F>>
  defp encode_value(_schema, :float, :neg_infinity, _path), do: <<0, 0, 0x80, 0xFF>>
  defp encode_value(_schema, :float, :nan, _path), do: <<0, 0, 0xC0, 0x7F>>

  defp encode_value(schema, type, value, path)
       when type in [:double, :float] and is_integer(value) do
    float =
      try do
        :erlang.float(value)
      rescue
        ArgumentError -> fail({:invalid_value, type, value}, path)
      end

    encode_value(schema, type, float, path)
  end

  defp encode_value(_schema, :string, value, path) when is_binary(value) do
    if String.valid?(value) do
      [encode_varint(byte_size(value)) | value]
    else
      fail(:invalid_utf8, path)
    end
  end

  defp encode_value(_schema, :bytes, value, _path) when is_binary(value),
    do: [encode_varint(byte_size(value)) | value]

  defp encode_value(_schema, :bytes, value, path) when is_list(value) do
    size =
      try do
        IO.iodata_length(value)
      rescue
        ArgumentError -> fail({:invalid_value, :bytes, :not_iodata}, path)
      end

    [encode_varint(size) | value]
  end

  defp encode_value(_schema, type, value, path), do: fail({:invalid_value, type, value}, path)

  ## Decoding

  defp decode_message(schema, message, binary, path, depth) do
    if depth > @max_depth, do: fail(:nesting_too_deep, path)
    acc = decode_fields(binary, schema, message, message.defaults, path, depth)

    # Repeated fields were accumulated in reverse.
    reverse_repeated(message.repeated, acc)
  end

  defp reverse_repeated([], acc), do: acc

  defp reverse_repeated([name | names], acc) do
    case acc do
      %{^name => [_, _ | _] = values} ->
        reverse_repeated(names, %{acc | name => Enum.reverse(values)})

      _ ->
        reverse_repeated(names, acc)
    end
  end

  defp decode_fields(<<>>, _schema, _message, acc, _path, _depth), do: acc

  defp decode_fields(binary, schema, message, acc, path, depth) do
    {number, wire_type, rest} = read_key(binary, path)

    {acc, rest} =
      case message.by_number do
        %{^number => field} -> decode_field(field, wire_type, rest, schema, acc, path, depth)
        _ -> {acc, skip_field(number, wire_type, rest, path, depth)}
      end

    decode_fields(rest, schema, message, acc, path, depth)
  end

  defp read_key(binary, path) do
    {key, rest} = varint!(binary, path)
    number = key >>> 3
    wire_type = key &&& 7

    cond do
      number == 0 -> fail(:invalid_field_number, path)
      number > @max_field_number -> fail({:invalid_field_number, number}, path)
      wire_type in [6, 7] -> fail({:invalid_wire_type, wire_type}, path)
      true -> {number, wire_type, rest}
    end
  end

  defp decode_field(%{packed: true} = field, 2, binary, schema, acc, path, _depth) do
    path = [field.name | path]
    {chunk, rest} = take_length_delimited(binary, path)
    reversed = decode_packed(field.type, chunk, schema, [], path)
    {Map.update!(acc, field.name, &(reversed ++ &1)), rest}
  end

  defp decode_field(%{wire_type: wire_type} = field, wire_type, binary, schema, acc, path, depth) do
    path = [field.name | path]
    {value, rest} = read_value(field.type, binary, schema, path, depth)
    {store(field, value, schema, acc), rest}
  end

  # A known field with another wire type is an unknown field, as in protobuf.
  defp decode_field(field, wire_type, binary, _schema, acc, path, depth),
    do: {acc, skip_field(field.number, wire_type, binary, path, depth)}

  defp store(%{label: :repeated, name: name}, value, _schema, acc),
    do: Map.update!(acc, name, &[value | &1])

  defp store(%{label: :oneof, oneof: oneof, name: name, type: type}, value, schema, acc) do
    case {acc, type} do
      {%{^oneof => {^name, old}}, {:message, message}} ->
        %{acc | oneof => {name, merge(schema, message, old, value)}}

      _ ->
        %{acc | oneof => {name, value}}
    end
  end

  defp store(%{name: name, type: {:message, message}}, value, schema, acc) do
    case acc do
      %{^name => nil} -> %{acc | name => value}
      %{^name => old} -> %{acc | name => merge(schema, message, old, value)}
    end
  end

  defp store(%{name: name}, value, _schema, acc), do: %{acc | name => value}

  # Message.MergeFrom: what `new` sets replaces, repeated fields concatenate,
  # message fields merge.
  defp merge(schema, name, old, new) do
    message = schema.messages[name]

    Enum.reduce(message.fields, old, fn field, acc ->
      key = field.key
      new_value = Map.fetch!(new, key)

      case {field, new_value} do
        {%{label: :repeated}, _} ->
          %{acc | key => acc[key] ++ new_value}

        {_, nil} ->
          acc

        {%{label: :oneof, name: member, type: type}, {member, value}} ->
          case {acc[key], type} do
            {{^member, old_value}, {:message, msg}} ->
              %{acc | key => {member, merge(schema, msg, old_value, value)}}

            _ ->
              %{acc | key => new_value}
          end

        {%{label: :oneof}, _} ->
          # Another member of the oneof: handled at its own field.
          acc

        {%{type: {:message, msg}}, _} ->
          case acc[key] do
            nil -> %{acc | key => new_value}
            old_value -> %{acc | key => merge(schema, msg, old_value, new_value)}
          end

        {%{label: :optional}, _} ->
          %{acc | key => new_value}

        {%{label: :singular, type: type}, _} ->
          if default?(schema, type, new_value), do: acc, else: %{acc | key => new_value}
      end
    end)
  end

  defp read_value(type, binary, schema, path, depth) do
    case type do
      {:message, name} ->
        {chunk, rest} = take_length_delimited(binary, path)
        {decode_message(schema, schema.messages[name], chunk, path, depth + 1), rest}

      :string ->
        {chunk, rest} = take_length_delimited(binary, path)
        if String.valid?(chunk), do: {chunk, rest}, else: fail(:invalid_utf8, path)

      :bytes ->
        take_length_delimited(binary, path)

      type ->
        case wire_type(type) do
          0 ->
            {raw, rest} = varint!(binary, path)
            {from_varint(type, raw, schema), rest}

          1 ->
            case binary do
              <<raw::binary-8, rest::binary>> -> {from_fixed(type, raw), rest}
              _ -> fail(:truncated_fixed64, path)
            end

          5 ->
            case binary do
              <<raw::binary-4, rest::binary>> -> {from_fixed(type, raw), rest}
              _ -> fail(:truncated_fixed32, path)
            end
        end
    end
  end

  # Returns the values in reverse order, ready to prepend to the accumulator.
  defp decode_packed(type, chunk, schema, acc, path) do
    case wire_type(type) do
      0 ->
        decode_packed_varints(chunk, type, schema, acc, path)

      1 ->
        if rem(byte_size(chunk), 8) != 0, do: fail({:bad_packed_length, byte_size(chunk)}, path)
        values = for <<raw::binary-8 <- chunk>>, do: from_fixed(type, raw)
        Enum.reverse(values, acc)

      5 ->
        if rem(byte_size(chunk), 4) != 0, do: fail({:bad_packed_length, byte_size(chunk)}, path)
        values = for <<raw::binary-4 <- chunk>>, do: from_fixed(type, raw)
        Enum.reverse(values, acc)
    end
  end

  defp decode_packed_varints(<<>>, _type, _schema, acc, _path), do: acc

  defp decode_packed_varints(chunk, type, schema, acc, path) do
    {raw, rest} = varint!(chunk, path)
    decode_packed_varints(rest, type, schema, [from_varint(type, raw, schema) | acc], path)
  end

  defp from_varint(:int32, raw, _schema), do: signed32(raw &&& @mask32)
  defp from_varint(:int64, raw, _schema), do: signed64(raw)
  defp from_varint(:uint32, raw, _schema), do: raw &&& @mask32
  defp from_varint(:uint64, raw, _schema), do: raw
  defp from_varint(:bool, raw, _schema), do: raw != 0
  defp from_varint(:sint32, raw, _schema), do: unzigzag(raw &&& @mask32)
  defp from_varint(:sint64, raw, _schema), do: unzigzag(raw)

  defp from_varint({:enum, enum}, raw, schema) do
    number = signed32(raw &&& @mask32)
    Map.get(schema.enums[enum].by_number, number, number)
  end

  defp from_fixed(:fixed32, <<v::little-32>>), do: v
  defp from_fixed(:sfixed32, <<v::little-signed-32>>), do: v
  defp from_fixed(:fixed64, <<v::little-64>>), do: v
  defp from_fixed(:sfixed64, <<v::little-signed-64>>), do: v
  defp from_fixed(:double, <<v::float-little-64>>), do: v
  defp from_fixed(:double, <<0::48, 0xF0, 0x7F>>), do: :infinity
  defp from_fixed(:double, <<0::48, 0xF0, 0xFF>>), do: :neg_infinity
  defp from_fixed(:double, <<_::binary-8>>), do: :nan
  defp from_fixed(:float, <<v::float-little-32>>), do: v
  defp from_fixed(:float, <<0, 0, 0x80, 0x7F>>), do: :infinity
  defp from_fixed(:float, <<0, 0, 0x80, 0xFF>>), do: :neg_infinity
  defp from_fixed(:float, <<_::binary-4>>), do: :nan

  defp signed32(v) when v >= 0x8000_0000, do: v - 0x1_0000_0000
  defp signed32(v), do: v

  defp signed64(v) when v > @int64_max, do: v - 0x1_0000_0000_0000_0000
  defp signed64(v), do: v

  defp take_length_delimited(binary, path) do
    {length, rest} = varint!(binary, path)

    case rest do
      <<chunk::binary-size(length), rest::binary>> -> {chunk, rest}
      _ -> fail({:length_past_end, length, byte_size(rest)}, path)
    end
  end

  defp skip_field(number, wire_type, binary, path, depth) do
    case wire_type do
      0 ->
        {_, rest} = varint!(binary, path)
        rest

      1 ->
        case binary do
          <<_::binary-8, rest::binary>> -> rest
          _ -> fail(:truncated_fixed64, path)
        end

      2 ->
        {_, rest} = take_length_delimited(binary, path)
        rest

      3 ->
        skip_group(number, binary, path, depth + 1)

      4 ->
        fail({:unexpected_end_group, number}, path)

      5 ->
        case binary do
          <<_::binary-4, rest::binary>> -> rest
          _ -> fail(:truncated_fixed32, path)
        end
    end
  end

  defp skip_group(_number, _binary, path, depth) when depth > @max_depth,
    do: fail(:nesting_too_deep, path)

  defp skip_group(_number, <<>>, path, _depth), do: fail(:unterminated_group, path)

  defp skip_group(number, binary, path, depth) do
    case read_key(binary, path) do
      {^number, 4, rest} ->
        rest

      {other, 4, _rest} ->
        fail({:mismatched_end_group, number, other}, path)

      {field, wire_type, rest} ->
        skip_group(number, skip_field(field, wire_type, rest, path, depth), path, depth)
    end
  end

  # One-byte varints (most keys, lengths and small numbers) first.
  defp varint!(<<0::1, b::7, rest::binary>>, _path), do: {b, rest}

  defp varint!(binary, path) do
    case varint(binary, 0, 0) do
      {_value, _rest} = ok -> ok
      reason -> fail(reason, path)
    end
  end

  defp varint(<<0::1, b::7, rest::binary>>, shift, acc),
    do: {(acc ||| b <<< shift) &&& @mask64, rest}

  defp varint(<<1::1, b::7, rest::binary>>, shift, acc) when shift < 63,
    do: varint(rest, shift + 7, acc ||| b <<< shift)

  defp varint(<<1::1, _::7, _::binary>>, _shift, _acc), do: :varint_too_long
  defp varint(<<>>, _shift, _acc), do: :truncated_varint

  @spec fail(term(), [atom()]) :: no_return()
  defp fail(reason, path), do: throw({__MODULE__, reason, path})
end

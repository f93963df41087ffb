defmodule PelemayBackend.Proto.SchemaSyncTest do
  # The hand-written schema (PelemayBackend.Proto.Schema) must describe
  # proto/pelemay.proto exactly. protoc compiles the .proto into a
  # FileDescriptorSet, this project's codec decodes it, and the result is
  # compared with the hand-written definition, message by message.
  use ExUnit.Case, async: true

  alias PelemayBackend.Proto.Schema
  alias PelemayBackend.Test.{Descriptor, Protoc}

  @moduletag :protoc

  defp from_proto(dir, file) do
    {:ok, set} = Protoc.descriptor_set(dir, file)
    assert {:ok, decoded} = Descriptor.decode_set(set)
    Descriptor.to_definition(decoded, file)
  end

  # Every difference between two definitions, as readable strings.
  defp diff(expected, actual) do
    package =
      if expected.package == actual.package,
        do: [],
        else: ["package: #{inspect(expected.package)} vs #{inspect(actual.package)}"]

    package ++
      diff_named("message", expected.messages, actual.messages, &diff_fields/3) ++
      diff_named("enum", expected.enums, actual.enums, &diff_values/3)
  end

  defp diff_named(kind, expected, actual, diff_one) do
    expected = Map.new(expected)
    actual = Map.new(actual)

    missing =
      for name <- Map.keys(actual) -- Map.keys(expected),
          do: "#{kind} #{name} is in the .proto but not in Schema"

    extra =
      for name <- Map.keys(expected) -- Map.keys(actual),
          do: "#{kind} #{name} is in Schema but not in the .proto"

    common = for name <- Map.keys(expected), Map.has_key?(actual, name), do: name
    missing ++ extra ++ Enum.flat_map(common, &diff_one.(&1, expected[&1], actual[&1]))
  end

  defp diff_fields(message, expected, actual) do
    by_number = fn fields -> Map.new(fields, &{elem(&1, 0), &1}) end
    {e, a} = {by_number.(expected), by_number.(actual)}

    for number <- Enum.uniq(Map.keys(e) ++ Map.keys(a)) |> Enum.sort(),
        e[number] != a[number] do
      "#{message} field #{number}: Schema has #{inspect(e[number])}, the .proto #{inspect(a[number])}"
    end
  end

  defp diff_values(enum, expected, actual) do
    if Enum.sort(expected) == Enum.sort(actual),
      do: [],
      else: ["enum #{enum}: Schema has #{inspect(expected)}, the .proto #{inspect(actual)}"]
  end

  test "Schema describes proto/pelemay.proto exactly" do
    from_proto = from_proto(Protoc.proto_dir(), "pelemay.proto")
    assert diff(Schema.definition(), from_proto) == []

    # Also as compiled structures (field order, defaults, oneof groups).
    assert Schema.compile(from_proto) == Schema.compiled()
  end

  test "messages and enums are listed in the order of the .proto" do
    from_proto = from_proto(Protoc.proto_dir(), "pelemay.proto")
    assert Schema.messages() == Enum.map(from_proto.messages, &elem(&1, 0))
    assert Enum.sort(Schema.enums()) == Enum.sort(Enum.map(from_proto.enums, &elem(&1, 0)))
  end

  test "the comparison notices a drift" do
    definition = Schema.definition()
    from_proto = from_proto(Protoc.proto_dir(), "pelemay.proto")

    renumbered =
      update_message(definition, :Tensor, fn fields ->
        List.keyreplace(fields, 3, 0, {30, :data, :bytes, {:oneof, :payload}})
      end)

    retyped =
      update_message(definition, :PadAxis, fn fields ->
        List.keyreplace(fields, 1, 0, {1, :lo, :sint64, :singular})
      end)

    relabelled =
      update_message(definition, :Attributes, fn fields ->
        List.keyreplace(fields, 6, 0, {6, :axis, :int64, :singular})
      end)

    without_fault = %{
      definition
      | messages: List.keydelete(definition.messages, :FaultRequest, 0)
    }

    enum_changed = %{
      definition
      | enums: List.keyreplace(definition.enums, :TieBreak, 0, {:TieBreak, [TIE_BREAK_LOW: 0]})
    }

    for changed <- [renumbered, retyped, relabelled, without_fault, enum_changed] do
      assert diff(changed, from_proto) != []
    end

    assert [_, _] = diff(renumbered, from_proto)

    assert ["message FaultRequest is in the .proto but not in Schema"] =
             diff(without_fault, from_proto)
  end

  defp update_message(definition, name, fun) do
    {^name, fields} = List.keyfind(definition.messages, name, 0)
    %{definition | messages: List.keyreplace(definition.messages, name, 0, {name, fun.(fields)})}
  end

  test "the descriptor subset used to read descriptor sets matches descriptor.proto" do
    # Where protoc keeps its well-known types: next to its binary, or the
    # usual include directories.
    candidates = [
      Path.expand("../include", Path.dirname(Protoc.executable())),
      "/usr/include",
      "/usr/local/include"
    ]

    dir = Enum.find(candidates, &File.regular?(Path.join(&1, "google/protobuf/descriptor.proto")))

    if dir == nil do
      IO.puts("\nskipped: google/protobuf/descriptor.proto not found in #{inspect(candidates)}")
    else
      real = from_proto(dir, "google/protobuf/descriptor.proto")
      real_messages = Map.new(real.messages)

      for {name, fields} <- Descriptor.definition().messages, field <- fields do
        assert field in Map.fetch!(real_messages, name), "#{name}: #{inspect(field)}"
      end

      real_enums = Map.new(real.enums)

      for {name, values} <- Descriptor.definition().enums,
          {value, number} <- values,
          number != 0 do
        assert {value, number} in Map.fetch!(real_enums, name)
      end
    end
  end
end

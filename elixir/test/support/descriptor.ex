defmodule PelemayBackend.Test.Descriptor do
  @moduledoc """
  Reads what `protoc --descriptor_set_out` writes, with this project's own
  codec, and turns it into a schema definition in the format of
  `PelemayBackend.Proto.Schema.definition/0`.

  `schema/0` describes the part of `google/protobuf/descriptor.proto` (proto2)
  that a definition needs; every other field of a descriptor (options, json
  names, source info, services...) is an unknown field the decoder skips.
  """

  alias PelemayBackend.Proto.{Schema, Wire}

  @definition %{
    package: "google.protobuf",
    enums: [
      {:"FieldDescriptorProto.Type",
       [
         TYPE_UNSET_PLACEHOLDER: 0,
         TYPE_DOUBLE: 1,
         TYPE_FLOAT: 2,
         TYPE_INT64: 3,
         TYPE_UINT64: 4,
         TYPE_INT32: 5,
         TYPE_FIXED64: 6,
         TYPE_FIXED32: 7,
         TYPE_BOOL: 8,
         TYPE_STRING: 9,
         TYPE_GROUP: 10,
         TYPE_MESSAGE: 11,
         TYPE_BYTES: 12,
         TYPE_UINT32: 13,
         TYPE_ENUM: 14,
         TYPE_SFIXED32: 15,
         TYPE_SFIXED64: 16,
         TYPE_SINT32: 17,
         TYPE_SINT64: 18
       ]},
      {:"FieldDescriptorProto.Label",
       [LABEL_UNSET_PLACEHOLDER: 0, LABEL_OPTIONAL: 1, LABEL_REQUIRED: 2, LABEL_REPEATED: 3]}
    ],
    messages: [
      {:FileDescriptorSet, [{1, :file, {:message, :FileDescriptorProto}, :repeated}]},
      {:FileDescriptorProto,
       [
         {1, :name, :string, :optional},
         {2, :package, :string, :optional},
         {3, :dependency, :string, :repeated},
         {4, :message_type, {:message, :DescriptorProto}, :repeated},
         {5, :enum_type, {:message, :EnumDescriptorProto}, :repeated},
         {12, :syntax, :string, :optional}
       ]},
      {:DescriptorProto,
       [
         {1, :name, :string, :optional},
         {2, :field, {:message, :FieldDescriptorProto}, :repeated},
         {3, :nested_type, {:message, :DescriptorProto}, :repeated},
         {4, :enum_type, {:message, :EnumDescriptorProto}, :repeated},
         {8, :oneof_decl, {:message, :OneofDescriptorProto}, :repeated}
       ]},
      {:FieldDescriptorProto,
       [
         {1, :name, :string, :optional},
         {3, :number, :int32, :optional},
         {4, :label, {:enum, :"FieldDescriptorProto.Label"}, :optional},
         {5, :type, {:enum, :"FieldDescriptorProto.Type"}, :optional},
         {6, :type_name, :string, :optional},
         {9, :oneof_index, :int32, :optional},
         {17, :proto3_optional, :bool, :optional}
       ]},
      {:OneofDescriptorProto, [{1, :name, :string, :optional}]},
      {:EnumDescriptorProto,
       [
         {1, :name, :string, :optional},
         {2, :value, {:message, :EnumValueDescriptorProto}, :repeated}
       ]},
      {:EnumValueDescriptorProto,
       [
         {1, :name, :string, :optional},
         {2, :number, :int32, :optional}
       ]}
    ]
  }

  @schema Schema.compile(@definition)

  def definition, do: @definition
  def schema, do: @schema

  @doc "Decodes FileDescriptorSet bytes: `{:ok, map}` or `{:error, error}`."
  def decode_set(bytes), do: Wire.decode(@schema, :FileDescriptorSet, bytes)

  @doc """
  The schema definition of one file of a decoded FileDescriptorSet (the one
  named `file_name`). Types are named without the package, nested ones
  `:"Outer.Inner"`, as in `PelemayBackend.Proto.Schema`.
  """
  def to_definition(%{file: files}, file_name) do
    file = Enum.find(files, &(&1.name == file_name)) || raise "no #{file_name} in the set"
    proto3? = file.syntax == "proto3"
    prefix = if file.package in [nil, ""], do: ".", else: "." <> file.package <> "."

    {messages, enums} = collect(file.message_type, file.enum_type, "", prefix, proto3?)
    %{package: file.package || "", messages: messages, enums: enums}
  end

  defp collect(message_types, enum_types, scope, prefix, proto3?) do
    enums = Enum.map(enum_types, &enum(&1, scope))

    {messages, nested_enums} =
      Enum.reduce(message_types, {[], []}, fn message, {ms, es} ->
        name = scope <> message.name
        fields = Enum.map(message.field, &field(&1, message, prefix, proto3?))

        {nested_ms, nested_es} =
          collect(message.nested_type, message.enum_type, name <> ".", prefix, proto3?)

        {ms ++ [{String.to_atom(name), fields}] ++ nested_ms, es ++ nested_es}
      end)

    {messages, enums ++ nested_enums}
  end

  defp enum(%{name: name, value: values}, scope) do
    {String.to_atom(scope <> name),
     Enum.map(values, fn %{name: value, number: number} -> {String.to_atom(value), number} end)}
  end

  defp field(field, message, prefix, proto3?) do
    type =
      case field.type do
        :TYPE_MESSAGE ->
          {:message, type_name(field.type_name, prefix)}

        :TYPE_ENUM ->
          {:enum, type_name(field.type_name, prefix)}

        :TYPE_GROUP ->
          raise "groups are not supported (#{message.name}.#{field.name})"

        :TYPE_UNSET_PLACEHOLDER ->
          raise "unset type"

        atom ->
          atom
          |> Atom.to_string()
          |> String.trim_leading("TYPE_")
          |> String.downcase()
          |> String.to_atom()
      end

    label =
      cond do
        field.label == :LABEL_REPEATED ->
          :repeated

        field.proto3_optional == true ->
          :optional

        field.oneof_index != nil ->
          {:oneof, String.to_atom(Enum.at(message.oneof_decl, field.oneof_index).name)}

        not proto3? ->
          :optional

        true ->
          :singular
      end

    {field.number, String.to_atom(field.name), type, label}
  end

  defp type_name(name, prefix) do
    if String.starts_with?(name, prefix) do
      name |> String.replace_prefix(prefix, "") |> String.to_atom()
    else
      raise "type #{name} is outside the file's package"
    end
  end
end

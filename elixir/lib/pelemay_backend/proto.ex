defmodule PelemayBackend.Proto do
  @moduledoc """
  Encodes and decodes the messages of `proto/pelemay.proto` (package
  `pelemay.v1`), the only contract between the BEAM and the executor.

  Messages are named by atoms without the package: `:Request`, `:Response`,
  `:Program`, `:Tensor`, ... (nested ones as `:"FaultRequest.Kind"`); see
  `PelemayBackend.Proto.Schema` for the list and `PelemayBackend.Proto.Wire`
  for the representation. In short: maps with atom keys, every field present
  after decoding; a oneof is one key holding `{field, value}`; enums are atoms.

      iex> {:ok, iodata} = PelemayBackend.Proto.encode(:Request, %{id: 7, kind: {:ping, %{}}})
      iex> IO.iodata_to_binary(iodata)
      <<8, 7, 74, 0>>
      iex> PelemayBackend.Proto.decode(:Request, <<8, 7, 74, 0>>)
      {:ok, %{id: 7, kind: {:ping, %{}}}}

  Each message travels in a `{:packet, 4}` frame: give the iodata to
  `Port.command/2` as it is (big `bytes` values are then not copied) and
  decode the binary of each `{port, {:data, binary}}`.
  """

  alias PelemayBackend.Proto.{Error, Schema, Wire}

  @doc "Encodes `map` as message `type`. The result is iodata (`IO.iodata_to_binary/1` gives the bytes)."
  @spec encode(atom(), map()) :: {:ok, iodata()} | {:error, Error.t()}
  def encode(type, map), do: Wire.encode(Schema.compiled(), type, map)

  @doc "As `encode/2`, but returns the iodata or raises `PelemayBackend.Proto.Error`."
  @spec encode!(atom(), map()) :: iodata()
  def encode!(type, map) do
    case encode(type, map) do
      {:ok, iodata} -> iodata
      {:error, error} -> raise error
    end
  end

  @doc "Decodes `binary` as message `type`. Never raises, whatever the bytes."
  @spec decode(atom(), binary()) :: {:ok, map()} | {:error, Error.t()}
  def decode(type, binary), do: Wire.decode(Schema.compiled(), type, binary)

  @doc "As `decode/2`, but returns the map or raises `PelemayBackend.Proto.Error`."
  @spec decode!(atom(), binary()) :: map()
  def decode!(type, binary) do
    case decode(type, binary) do
      {:ok, map} -> map
      {:error, error} -> raise error
    end
  end
end

alias PelemayBackend.Test.Protoc

exclude =
  if Code.ensure_loaded?(Nx) do
    []
  else
    IO.puts("""
    Nx is not available (PELEMAY_NX=none): excluding the tests tagged :nx.
    """)

    [:nx]
  end

exclude =
  if Protoc.available?() do
    exclude
  else
    IO.puts("""
    protoc was not found (PATH or $PROTOC): excluding the golden tests tagged :protoc.
    Install protobuf-compiler (scripts/setup does) to run them.
    """)

    [:protoc | exclude]
  end

ExUnit.start(exclude: exclude)

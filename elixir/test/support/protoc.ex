defmodule PelemayBackend.Test.Protoc do
  @moduledoc """
  Runs `protoc` for the golden tests: text format to bytes (`--encode`),
  bytes to text format (`--decode`), and descriptor sets.

  `protoc` is the one on the PATH, or `$PROTOC`. It reads the message from
  stdin, which `System.cmd/3` cannot feed, so it runs under `sh` with
  redirections from and to files in a temporary directory.
  """

  @proto_dir Path.expand("../../../proto", __DIR__)
  @fixtures_dir Path.expand("../fixtures", __DIR__)

  def proto_dir, do: @proto_dir
  def fixtures_dir, do: @fixtures_dir

  def executable do
    case System.get_env("PROTOC") do
      path when is_binary(path) and path != "" -> path
      _ -> System.find_executable("protoc")
    end
  end

  def available?, do: executable() != nil

  @doc "Encodes `text` (protobuf text format) as `full_type` of `file`: `{:ok, bytes}` or `{:error, output}`."
  def encode(full_type, text, opts \\ []) do
    {dir, file} = source(opts)
    in_path = tmp_file("in.txt")
    out_path = tmp_file("out.bin")
    File.write!(in_path, text)

    result =
      run(
        ["--proto_path=#{dir}", "--encode=#{full_type}", file],
        in_path,
        out_path
      )

    finish(result, out_path, [in_path])
  end

  @doc "Decodes `bytes` as `full_type` of `file` into text format: `{:ok, text}` or `{:error, output}`."
  def decode(full_type, bytes, opts \\ []) do
    {dir, file} = source(opts)
    in_path = tmp_file("in.bin")
    out_path = tmp_file("out.txt")
    File.write!(in_path, bytes)
    result = run(["--proto_path=#{dir}", "--decode=#{full_type}", file], in_path, out_path)
    finish(result, out_path, [in_path])
  end

  @doc "`protoc --descriptor_set_out`: the FileDescriptorSet bytes of `file` in `dir`."
  def descriptor_set(dir, file) do
    out_path = tmp_file("descriptor.pb")

    result =
      run(["--proto_path=#{dir}", "--descriptor_set_out=#{out_path}", file], "/dev/null", nil)

    finish(result, out_path, [])
  end

  defp source(opts) do
    {Keyword.get(opts, :proto_path, @proto_dir), Keyword.get(opts, :file, "pelemay.proto")}
  end

  defp run(args, stdin, stdout) do
    redirect = "< #{quote_sh(stdin)}" <> if(stdout, do: " > #{quote_sh(stdout)}", else: "")
    command = Enum.map_join([executable() | args], " ", &quote_sh/1) <> " " <> redirect
    System.cmd("sh", ["-c", command], stderr_to_stdout: true)
  end

  defp finish({_, 0}, out_path, cleanup) do
    result = File.read!(out_path)
    Enum.each([out_path | cleanup], &File.rm/1)
    {:ok, result}
  end

  defp finish({output, status}, out_path, cleanup) do
    Enum.each([out_path | cleanup], &File.rm/1)
    {:error, "protoc exited with #{status}: #{output}"}
  end

  defp tmp_file(name) do
    dir = Path.join(System.tmp_dir!(), "pelemay_protoc_#{System.pid()}")
    File.mkdir_p!(dir)
    Path.join(dir, "#{System.unique_integer([:positive])}_#{name}")
  end

  defp quote_sh(arg), do: "'" <> String.replace(arg, "'", "'\\''") <> "'"
end

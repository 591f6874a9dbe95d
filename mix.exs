defmodule PLPMTUD.MixProject do
  use Mix.Project

  def project do
    [
      app: :plpmtud,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      # The Rust NIF must be built (and copied into priv/) before :elixir runs:
      # PLPMTUD.Config calls it at compile time (the Erlang module plpmtud_nif,
      # src/plpmtud_nif.erl, loads it). rebar3 builds the same library with
      # scripts/build-nif (rebar.config).
      compilers: [:plpmtud_cargo] ++ Mix.compilers(),
      # The uTP-shaped example transport (examples/utp) is built for the
      # tests, the benchmarks and `mix plpmtud.transfer`, never shipped.
      erlc_paths: erlc_paths(Mix.env()),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: []
    ]
  end

  defp erlc_paths(:prod), do: ["src"]
  defp erlc_paths(_), do: ["src", "examples/utp/src"]

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  def application do
    [
      extra_applications: [:logger, :crypto],
      mod: {PLPMTUD.Application, []}
    ]
  end
end

defmodule Mix.Tasks.Compile.PlpmtudCargo do
  @moduledoc """
  Builds the `plpmtud_nif` Rust crate with cargo and copies the resulting
  cdylib to `priv/native/plpmtud_nif.so`, where `:plpmtud_nif` loads it
  (rebar3 users get the same file from `scripts/build-nif`).

  This compiler is defined in `mix.exs` (not in `lib/`) so that it exists
  before anything in `lib/` is compiled; it is not shipped in the app.

  Staleness is decided cheaply, without invoking cargo: if
  `priv/native/plpmtud_nif.so` is newer than `Cargo.toml`, `Cargo.lock` and
  every `*.rs` / `Cargo.toml` under `native/`, cargo is skipped entirely.
  After a build, the copied library's mtime is set to the time the build
  *started*, so a source edited while cargo was running is seen as stale on
  the next compile.

  ## Options

    * `--force` - run cargo even if the library looks up to date

  ## Environment

    * `PLPMTUD_SKIP_CARGO=1` - never run cargo. Use when
      `priv/native/plpmtud_nif.so` is provided by other means (for example a
      prebuilt artifact); if it is missing, `:plpmtud_nif.status/0` says so
      and compiling `PLPMTUD.Config` fails.
    * `CARGO_TARGET_DIR` - honoured when locating cargo's output.
    * `CARGO` - the cargo executable to run (default: `cargo` on `PATH`).
  """
  use Mix.Task.Compiler

  @crate "plpmtud_nif"
  @recursive true

  @impl Mix.Task.Compiler
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean])
    root = root()
    dest = dest_path(root)

    cond do
      System.get_env("PLPMTUD_SKIP_CARGO") in ["1", "true"] ->
        Mix.shell().info("PLPMTUD_SKIP_CARGO is set: not running cargo")
        {:noop, []}

      !opts[:force] and up_to_date?(root, dest) ->
        {:noop, []}

      true ->
        build(root, dest)
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: []

  @impl Mix.Task.Compiler
  def clean do
    File.rm(dest_path(root()))
    :ok
  end

  defp root, do: Path.dirname(Mix.Project.project_file() || Path.join(File.cwd!(), "mix.exs"))

  defp dest_path(root), do: Path.join([root, "priv", "native", "#{@crate}.so"])

  defp up_to_date?(root, dest) do
    case File.stat(dest, time: :posix) do
      {:ok, %{mtime: built}} ->
        Enum.all?(sources(root), fn src ->
          case File.stat(src, time: :posix) do
            {:ok, %{mtime: mtime}} -> mtime < built
            {:error, _} -> true
          end
        end)

      {:error, _} ->
        false
    end
  end

  defp sources(root) do
    [Path.join(root, "Cargo.toml"), Path.join(root, "Cargo.lock")] ++
      Path.wildcard(Path.join(root, "native/**/*.rs")) ++
      Path.wildcard(Path.join(root, "native/**/Cargo.toml"))
  end

  defp build(root, dest) do
    name = System.get_env("CARGO", "cargo")
    cargo = System.find_executable(name)

    if is_nil(cargo) do
      error("#{name} not found; install Rust (https://rustup.rs) or run scripts/ensure-tools")
    else
      started = System.os_time(:second)
      args = ["build", "--release", "-p", @crate]
      Mix.shell().info("Compiling #{@crate} (cargo #{Enum.join(args, " ")})")

      case System.cmd(cargo, args,
             cd: root,
             into: IO.stream(:stdio, :line),
             stderr_to_stdout: true
           ) do
        {_, 0} -> install(root, dest, started)
        {_, status} -> error("cargo build failed (exit status #{status}); see output above")
      end
    end
  end

  defp install(root, dest, started) do
    src = artifact_path(root)

    if File.regular?(src) do
      File.mkdir_p!(Path.dirname(dest))
      # Copy then rename: a new inode, so a BEAM that has the old library
      # mapped is never handed a half-written file.
      tmp = dest <> ".tmp"
      File.cp!(src, tmp)
      File.rename!(tmp, dest)
      File.touch!(dest, started)
      # priv/ may not have existed when Mix linked _build/*/lib/plpmtud/priv.
      Mix.Project.build_structure()
      {:ok, []}
    else
      error("cargo succeeded but #{src} does not exist")
    end
  end

  defp artifact_path(root) do
    target_dir =
      case System.get_env("CARGO_TARGET_DIR") do
        dir when dir in [nil, ""] -> Path.join(root, "target")
        dir -> Path.expand(dir, root)
      end

    ext =
      case :os.type() do
        {:unix, :darwin} -> "dylib"
        _ -> "so"
      end

    Path.join([target_dir, "release", "lib#{@crate}.#{ext}"])
  end

  defp error(message) do
    Mix.shell().error(message)

    {:error,
     [
       %Mix.Task.Compiler.Diagnostic{
         compiler_name: "plpmtud_cargo",
         file: Path.join(root(), "Cargo.toml"),
         message: message,
         position: nil,
         severity: :error
       }
     ]}
  end
end

defmodule PLPMTUD.MixProject do
  use Mix.Project

  def project do
    [
      app: :plpmtud,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      # The Rust NIF must be in priv/ before :elixir runs: PLPMTUD.Config
      # calls it at compile time (the Erlang module plpmtud_nif,
      # src/plpmtud_nif.erl, loads it). The compiler below runs
      # scripts/build-nif, as rebar3 does (rebar.config): a prebuilt library
      # listed in native/plpmtud_nif/checksums.txt (downloaded, sha256
      # checked), else cargo. PLPMTUD_BUILD_FROM_SOURCE=1 always uses cargo;
      # PLPMTUD_SKIP_CARGO=1 runs nothing.
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
  Puts the `plpmtud_nif` library at `priv/native/plpmtud_nif.so`, where
  `:plpmtud_nif` loads it, by running `scripts/build-nif` (the same script
  rebar3 runs): it installs the prebuilt library that
  `native/plpmtud_nif/checksums.txt` lists for this system, downloaded and
  checked against its sha256 (`scripts/nif-prebuilt`), or builds the crate
  with cargo when none is listed, or when the download fails and cargo is
  there.

  This compiler is defined in `mix.exs` (not in `lib/`) so that it exists
  before anything in `lib/` is compiled; it is not shipped in the app.

  Staleness is decided cheaply, without running anything: if
  `priv/native/plpmtud_nif.so` is newer than `Cargo.toml`, `Cargo.lock`,
  `native/plpmtud_nif/checksums.txt` and every `*.rs` / `Cargo.toml` under
  `native/`, the script is not run. After a build, the library's mtime is set
  to the time the build *started*, so a source edited while cargo was running
  is seen as stale on the next compile.

  ## Options

    * `--force` - run the script even if the library looks up to date
      (`mix compile.plpmtud_cargo --force`, e.g. after setting
      `PLPMTUD_BUILD_FROM_SOURCE=1` where a prebuilt library was installed)

  ## Environment

    * `PLPMTUD_BUILD_FROM_SOURCE=1` - always build with cargo, never download.
    * `PLPMTUD_SKIP_CARGO=1` - run nothing. Use when
      `priv/native/plpmtud_nif.so` is provided by other means; if it is
      missing, `:plpmtud_nif.status/0` says so and compiling `PLPMTUD.Config`
      fails.
    * `PLPMTUD_NIF_URL`, `PLPMTUD_NIF_TIMEOUT`, `PLPMTUD_NIF_TARGET` - where
      prebuilt libraries are, how long a download may take (seconds), which
      Rust target to fetch for (`scripts/nif-prebuilt`).
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
    [
      Path.join(root, "Cargo.toml"),
      Path.join(root, "Cargo.lock"),
      Path.join(root, "native/#{@crate}/checksums.txt")
    ] ++
      Path.wildcard(Path.join(root, "native/**/*.rs")) ++
      Path.wildcard(Path.join(root, "native/**/Cargo.toml"))
  end

  defp build(root, dest) do
    started = System.os_time(:second)
    script = Path.join(root, "scripts/build-nif")
    Mix.shell().info("Compiling #{@crate} (scripts/build-nif)")

    # The escript of the ERTS running Mix: the library fetched is for its
    # NIF version.
    escript = Path.join([:code.root_dir(), "bin", "escript"])
    env = if File.exists?(escript), do: [{"ESCRIPT", escript}], else: []

    case System.cmd("bash", [script],
           cd: root,
           env: env,
           into: IO.stream(:stdio, :line),
           stderr_to_stdout: true
         ) do
      {_, 0} -> installed(dest, started)
      {_, status} -> error("scripts/build-nif failed (exit status #{status}); see output above")
    end
  end

  defp installed(dest, started) do
    if File.regular?(dest) do
      File.touch!(dest, started)
      # priv/ may not have existed when Mix linked _build/*/lib/plpmtud/priv.
      Mix.Project.build_structure()
      {:ok, []}
    else
      error("scripts/build-nif succeeded but #{dest} does not exist")
    end
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

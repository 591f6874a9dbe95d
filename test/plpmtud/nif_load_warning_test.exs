defmodule PLPMTUD.NifLoadWarningTest do
  # Plain erl runs plpmtud's Erlang modules from an application directory of
  # its own, with or without the NIF library, and prints every log event.
  use ExUnit.Case, async: true

  @moduletag timeout: 60_000

  # The default handler prints each event on one line, after a tag.
  @logger_config ~S|[{handler,default,logger_std_h,#{formatter=>{logger_formatter,#{single_line=>true,template=>["EVENT ",level," ",mfa," ",msg,"\n"]}}}}]|

  setup do
    dir = Path.join(System.tmp_dir!(), "plpmtud_warn_#{System.unique_integer([:positive])}")
    app = Path.join(dir, "lib/plpmtud-0.1.0")
    File.mkdir_p!(Path.join(app, "ebin"))
    on_exit(fn -> File.rm_rf!(dir) end)

    for mod <- [:plpmtud, :plpmtud_nif] do
      File.cp!(:code.which(mod), Path.join(app, "ebin/#{mod}.beam"))
    end

    File.write!(Path.join(app, "ebin/plpmtud.app"), """
    {application, plpmtud, [{description, "plpmtud"}, {vsn, "0.1.0"},
      {modules, [plpmtud, plpmtud_nif]}, {registered, []}, {applications, [kernel, stdlib]}]}.
    """)

    %{dir: dir, app: app, lib: Path.join(app, "priv/native/plpmtud_nif.so")}
  end

  @eval ~S"""
  New1 = plpmtud:new(#{}), New2 = plpmtud:new(#{}),
  Stub = (catch plpmtud_nif:core_version()),
  Status = plpmtud_nif:status(),
  ok = logger_std_h:filesync(default),
  io:format("new=~0p~nnew2=~0p~nstub=~0p~nstatus=~0p~n", [New1, New2, Stub, Status]),
  halt().
  """

  defp erl(dir, args) do
    env = for var <- ~w(ERL_LIBS ERL_FLAGS ERL_AFLAGS ERL_ZFLAGS), do: {var, nil}
    args = ["-k", "5", "30", "erl", "-noshell", "-kernel", "logger", @logger_config | args]
    System.cmd("timeout", args ++ ["-eval", @eval], cd: dir, env: env, stderr_to_stdout: true)
  end

  defp events(out),
    do: out |> String.split("\n") |> Enum.filter(&String.starts_with?(&1, "EVENT "))

  # The value the eval printed after "Key=".
  defp line(out, key) do
    [value] = Regex.run(~r/^#{key}=(.*)$/m, out, capture: :all_but_first)
    value
  end

  defp assert_one_warning(out, lib) do
    assert [event] = events(out), out
    assert event =~ "EVENT warning plpmtud_nif:load/0 plpmtud: NIF library #{lib} not loaded: "
    assert event =~ "{load_failed,"
    assert event =~ "cannot open shared object file"
    assert event =~ "Path MTU discovery is off"
  end

  defp assert_not_loaded(out, lib) do
    error = "{error,{nif_not_loaded,\"#{lib}\",{load_failed,"
    assert line(out, "new") =~ error, out
    assert line(out, "new2") =~ error
    assert line(out, "status") =~ error
    assert line(out, "stub") =~ "{'EXIT',{{nif_not_loaded,\"#{lib}\",{load_failed,"
  end

  test "without its library plpmtud_nif logs one warning naming the file and the reason",
       %{dir: dir, app: app, lib: lib} do
    {out, 0} = erl(dir, ["-pa", Path.join(app, "ebin")])
    assert_one_warning(out, lib)
    assert_not_loaded(out, lib)
  end

  test "in a release booting in embedded mode the warning is logged too, once",
       %{dir: dir, app: app, lib: lib} do
    # The release kernel + stdlib + plpmtud, its modules loaded at boot
    # (before the logger's handlers start).
    vsn = fn app -> app |> Application.spec(:vsn) |> to_string() end

    File.write!(Path.join(dir, "rel.rel"), """
    {release, {"rel", "1"}, {erts, "#{:erlang.system_info(:version)}"},
     [{kernel, "#{vsn.(:kernel)}"}, {stdlib, "#{vsn.(:stdlib)}"}, {plpmtud, "0.1.0"}]}.
    """)

    # An absolute name: never change the VM's working directory (async).
    {:ok, _, _} =
      :systools.make_script(~c"#{dir}/rel", [
        {:path, [~c"#{app}/ebin"]},
        {:outdir, ~c"#{dir}"},
        :local,
        :silent,
        :no_warn_sasl
      ])

    {out, 0} = erl(dir, ["-boot", Path.join(dir, "rel"), "-mode", "embedded"])
    assert_one_warning(out, lib)
    assert_not_loaded(out, lib)
  end

  test "with its library plpmtud_nif loads it and logs nothing", %{dir: dir, app: app, lib: lib} do
    File.mkdir_p!(Path.dirname(lib))
    File.cp!(Path.join(:code.priv_dir(:plpmtud), "native/plpmtud_nif.so"), lib)
    {out, 0} = erl(dir, ["-pa", Path.join(app, "ebin")])
    assert events(out) == [], out
    assert line(out, "status") == "ok"
    assert line(out, "new") =~ "{ok,"
  end
end

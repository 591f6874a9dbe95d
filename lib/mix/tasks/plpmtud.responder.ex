defmodule Mix.Tasks.Plpmtud.Responder do
  @shortdoc "Answers plpmtud probes until interrupted"

  @moduledoc """
  Runs a `PLPMTUD.Responder` that answers probes from `mix plpmtud.probe`.

      mix plpmtud.responder [--port P] [--bind ADDR] [--netns NS] [--rate N] [--burst N]

  Prints its counters every 10 seconds; stop it with Ctrl-C. When the port
  cannot be opened (in use, or below 1024 without the privilege), or for an
  unknown option, prints one line and exits with status 1.
  """

  use Mix.Task

  alias PLPMTUD.CLI

  @task "plpmtud.responder"

  @switches [port: :integer, bind: :string, netns: :string, rate: :integer, burst: :integer]

  @impl Mix.Task
  def run(args) do
    {opts, rest} = CLI.parse!(@task, args, @switches)
    if rest != [], do: CLI.fail!(@task, "unexpected argument: #{hd(rest)}")
    Mix.Task.run("app.start")

    options =
      [
        port: opts[:port] || PLPMTUD.Responder.default_port(),
        ip: parse_ip(opts[:bind]),
        netns: opts[:netns],
        rate: opts[:rate],
        burst: opts[:burst]
      ]
      |> Enum.reject(fn {_, v} -> is_nil(v) end)

    case PLPMTUD.Responder.start_link(options) do
      {:ok, responder} ->
        {ip, port} = PLPMTUD.Responder.address(responder)
        Mix.shell().info("plpmtud responder on #{:inet.ntoa(ip)} port #{port}")
        report(responder)

      {:error, {:open_failed, reason}} ->
        CLI.fail!(@task, "port #{options[:port]}: #{CLI.describe(reason)}")

      {:error, reason} ->
        CLI.fail!(@task, "cannot start: #{CLI.describe(reason)}")
    end
  end

  defp parse_ip(nil), do: nil

  defp parse_ip(text) do
    case :inet.parse_address(String.to_charlist(text)) do
      {:ok, ip} -> ip
      {:error, _} -> CLI.fail!(@task, "--bind needs an IP address, got: #{text}")
    end
  end

  defp report(responder) do
    Process.sleep(10_000)
    Mix.shell().info("counters: #{inspect(PLPMTUD.Responder.stats(responder))}")
    report(responder)
  end
end

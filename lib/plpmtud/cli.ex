defmodule PLPMTUD.CLI do
  @moduledoc """
  Argument handling shared by the `mix plpmtud.*` tasks: options are parsed
  strictly (an unknown option or a bad value stops the task with one line
  naming it), and targets are `HOST[:PORT]` with the host resolved like
  gen_udp does. Every failure is a `Mix.Error`: one line, exit status 1.
  """

  @doc """
  Parses `args` with `OptionParser`'s `strict:` `switches`. Returns
  `{options, positional}`; an unknown option or an option with a bad value
  raises `Mix.Error` naming it, prefixed with `task`.
  """
  @spec parse!(String.t(), [String.t()], keyword()) :: {keyword(), [String.t()]}
  def parse!(task, args, switches) do
    case OptionParser.parse(args, strict: switches) do
      {options, positional, []} ->
        {options, positional}

      {_, _, [{name, value} | _]} ->
        known? = Keyword.has_key?(switches, switch_key(name))

        cond do
          not known? -> fail!(task, "unknown option #{name}")
          is_nil(value) -> fail!(task, "option #{name} needs a value")
          true -> fail!(task, "invalid value for #{name}: #{value}")
        end
    end
  end

  defp switch_key("--" <> name) do
    name |> String.replace("-", "_") |> String.to_existing_atom()
  rescue
    ArgumentError -> nil
  end

  defp switch_key(_), do: nil

  @doc """
  Splits `HOST`, `HOST:PORT` or `[IPV6]:PORT` and resolves the host in
  `family` (an address literal of either family is taken as it is): `{ip,
  port}` with `port` nil when not given. A bad port or a host that does not
  resolve raises `Mix.Error`.
  """
  @spec target!(String.t(), String.t(), :inet | :inet6) ::
          {:inet.ip_address(), :inet.port_number() | nil}
  def target!(task, text, family) do
    {host, port} = split_port(task, text)
    {resolve!(task, host, family), port}
  end

  defp split_port(task, "[" <> rest) do
    case String.split(rest, "]:") do
      [host, port] -> {host, parse_port(task, port)}
      _ -> {String.trim_trailing(rest, "]"), nil}
    end
  end

  defp split_port(task, target) do
    case String.split(target, ":") do
      [host, port] -> {host, parse_port(task, port)}
      _ -> {target, nil}
    end
  end

  defp parse_port(task, port) do
    case Integer.parse(port) do
      {n, ""} when n in 1..65_535 -> n
      _ -> fail!(task, "bad port: #{port}")
    end
  end

  defp resolve!(task, host, family) do
    charlist = String.to_charlist(host)

    with {:error, _} <- :inet.parse_address(charlist),
         {:error, reason} <- :inet.getaddr(charlist, family) do
      fail!(task, "cannot resolve #{host}: #{:inet.format_error(reason)}")
    else
      {:ok, ip} -> ip
    end
  end

  @doc """
  A reason for a person: `"permission denied (eacces)"` for a POSIX atom,
  the term itself otherwise.
  """
  @spec describe(term()) :: String.t()
  def describe(reason) when is_atom(reason) do
    case to_string(:inet.format_error(reason)) do
      "unknown POSIX error" <> _ -> inspect(reason)
      text -> "#{text} (#{reason})"
    end
  end

  def describe(reason), do: inspect(reason)

  @doc "Stops the task with `task: message` on one line and exit status 1."
  @spec fail!(String.t(), String.t()) :: no_return()
  def fail!(task, message), do: Mix.raise("#{task}: #{message}")

  @doc """
  Writes a results report (as in `bench/results/`) to `path`: the `title`
  as a heading, then the command that produced it, the machine and the
  date, then `lines`. Creates the directory when missing.
  """
  @spec write_report!(Path.t(), String.t(), String.t(), [String.t()]) :: :ok
  def write_report!(path, title, command, lines) do
    {:ok, host} = :inet.gethostname()

    header = [
      "# #{title}",
      "",
      "- command: `#{command}`",
      "- machine: #{host}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}",
      "- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}",
      ""
    ]

    File.mkdir_p!(Path.dirname(path))
    File.write!(path, Enum.join(header ++ lines, "\n") <> "\n")
  end
end

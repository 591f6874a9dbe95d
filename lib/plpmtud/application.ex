defmodule PLPMTUD.Application do
  @moduledoc """
  The `:plpmtud` application: creates the node-wide path-MTU cache
  (`PLPMTUD.Cache`; `:cache_capacity` entries, default 10 000, and
  `:cache_ttl` ms, default 600 000, from the application environment) and
  the registry of running `PLPMTUD.Prober`s that `PLPMTUD.Diagnostics.report/0` reads.

  At start it logs a warning naming any key under `config :plpmtud, ...`
  that is neither a prober option (`PLPMTUD.Config`) nor one of the
  application's own (`#{inspect([:cache_capacity, :cache_ttl])}`): a
  misspelt key would otherwise be ignored without a word.

  `:cache_capacity` must be an integer in 1..4294967295 and `:cache_ttl` in
  1..18446744073709551615 (ms); any other value (`nil`, a string, ...)
  fails the start with `{:invalid_app_env, key, message}`, the message
  naming the key and the value (also logged).
  """
  use Application

  require Logger

  @app_keys [:cache_capacity, :cache_ttl]

  # Each application key's default and accepted range.
  @app_values [
    cache_capacity: {10_000, 1..0xFFFF_FFFF},
    cache_ttl: {600_000, 1..0xFFFF_FFFF_FFFF_FFFF}
  ]

  @impl Application
  def start(_type, _args) do
    case :plpmtud_nif.status() do
      :ok ->
        warn_unknown_keys(Application.get_all_env(:plpmtud))

        # Every datagram carries a nonce from crypto: load its NIF now (tens
        # of ms), not in the middle of a prober's first round trip.
        {:module, :crypto} = Code.ensure_loaded(:crypto)

        with {:ok, capacity} <- app_value(:cache_capacity),
             {:ok, ttl} <- app_value(:cache_ttl) do
          PLPMTUD.Cache.init(capacity, ttl)
          children = [{Registry, keys: :duplicate, name: PLPMTUD.Registry}]
          Supervisor.start_link(children, strategy: :one_for_one, name: PLPMTUD.Supervisor)
        end

      {:error, {:nif_not_loaded, path, reason}} = error ->
        Logger.error(
          "plpmtud: failed to load the NIF library #{path}: #{inspect(reason)}. " <>
            "Build it with `mix compile` (scripts/build-nif: a prebuilt library or cargo) " <>
            "and check that it exists."
        )

        error
    end
  end

  # The value of one of the application's own keys, or the error that
  # fails the start, naming the key and the value.
  defp app_value(key) do
    {default, min..max = range} = @app_values[key]
    value = Application.get_env(:plpmtud, key, default)

    if is_integer(value) and value in range do
      {:ok, value}
    else
      message = "#{key} must be an integer in #{min}..#{max}, got: #{inspect(value)}"
      Logger.error("plpmtud: invalid application environment: #{message}")
      {:error, {:invalid_app_env, key, message}}
    end
  end

  @doc """
  The keys of an application environment (`[{key, value}]`, as
  `Application.get_all_env(:plpmtud)`) that plpmtud does not know, in the
  order given: neither prober options (`:plpmtud_nif.config_keys/0`) nor the
  application's own (`:cache_capacity`, `:cache_ttl`).
  """
  @spec unknown_keys([{atom(), term()}]) :: [atom()]
  def unknown_keys(env) do
    known = MapSet.new(:plpmtud_nif.config_keys() ++ @app_keys)
    for {key, _value} <- env, not MapSet.member?(known, key), do: key
  end

  @doc """
  Logs a warning naming the unknown keys of `env` (see `unknown_keys/1`);
  `:ok` whether there were any or not.
  """
  @spec warn_unknown_keys([{atom(), term()}]) :: :ok
  def warn_unknown_keys(env) do
    case unknown_keys(env) do
      [] ->
        :ok

      keys ->
        Logger.warning(
          "plpmtud: unknown keys in the :plpmtud application environment (ignored): " <>
            "#{Enum.map_join(keys, ", ", &inspect/1)}; known keys are the prober options " <>
            "(see PLPMTUD.Config) and #{Enum.map_join(@app_keys, ", ", &inspect/1)}"
        )
    end
  end
end

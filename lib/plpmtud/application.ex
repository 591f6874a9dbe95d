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
  """
  use Application

  require Logger

  @app_keys [:cache_capacity, :cache_ttl]

  @impl Application
  def start(_type, _args) do
    case :plpmtud_nif.status() do
      :ok ->
        warn_unknown_keys(Application.get_all_env(:plpmtud))
        capacity = Application.get_env(:plpmtud, :cache_capacity, 10_000)
        ttl = Application.get_env(:plpmtud, :cache_ttl, 600_000)
        PLPMTUD.Cache.init(capacity, ttl)
        children = [{Registry, keys: :duplicate, name: PLPMTUD.Registry}]
        Supervisor.start_link(children, strategy: :one_for_one, name: PLPMTUD.Supervisor)

      {:error, {:nif_not_loaded, path, reason}} = error ->
        Logger.error(
          "plpmtud: failed to load the NIF library #{path}: #{inspect(reason)}. " <>
            "Build it with `mix compile` (runs cargo; needs Rust) and check that it exists."
        )

        error
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

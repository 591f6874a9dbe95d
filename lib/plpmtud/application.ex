defmodule PLPMTUD.Application do
  @moduledoc """
  The `:plpmtud` application: creates the node-wide path-MTU cache
  (`PLPMTUD.Cache`; `:cache_capacity` entries, default 10 000, and
  `:cache_ttl` ms, default 600 000, from the application environment) and
  the registry of running `PLPMTUD.Prober`s that `PLPMTUD.Diagnostics.report/0` reads.
  """
  use Application

  require Logger

  @impl Application
  def start(_type, _args) do
    case :plpmtud_nif.status() do
      :ok ->
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
end

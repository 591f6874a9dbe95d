defmodule PLPMTUD.Application do
  @moduledoc """
  The `:plpmtud` application: creates the node-wide path-MTU cache
  (`PLPMTUD.Cache`; `:cache_capacity` entries, default 10 000, and
  `:cache_ttl` ms, default 600 000, from the application environment) and
  the registry of running `PLPMTUD.Prober`s that `PLPMTUD.Diagnostics.report/0` reads.
  """
  use Application

  @impl Application
  def start(_type, _args) do
    capacity = Application.get_env(:plpmtud, :cache_capacity, 10_000)
    ttl = Application.get_env(:plpmtud, :cache_ttl, 600_000)
    PLPMTUD.Cache.init(capacity, ttl)
    children = [{Registry, keys: :duplicate, name: PLPMTUD.Registry}]
    Supervisor.start_link(children, strategy: :one_for_one, name: PLPMTUD.Supervisor)
  end
end

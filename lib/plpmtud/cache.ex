defmodule PLPMTUD.Cache do
  @moduledoc """
  The node-wide path-MTU cache, like the kernel's route cache: per peer
  address, the MTU, when it was last confirmed, a confidence (0..100) that
  grows with confirmations and shrinks with losses, and the latest changes
  with their reasons. Entries expire after the TTL; the size is bounded
  (least recently used out first). It lives in Rust (16 locked shards) and is
  created by the application.

  A `PLPMTUD.Prober` started with `cache: true` looks its peer up and, on a
  hit, only confirms the cached MTU (one probe instead of a search), and
  records what it learns.
  """

  alias :plpmtud_nif, as: Native

  @key {__MODULE__, :cache}

  @typedoc "Why an MTU was recorded."
  @type reason :: :probe_success | :ptb | :loss | :timeout | :black_hole | :manual

  @typedoc "A cache entry."
  @type entry :: %{
          mtu: pos_integer(),
          confirmed_at: non_neg_integer(),
          confidence: 0..100,
          history: [%{at: non_neg_integer(), mtu: pos_integer(), reason: reason()}]
        }

  @doc false
  @spec init(pos_integer(), pos_integer()) :: :ok
  def init(capacity, ttl_ms) do
    :persistent_term.put(@key, Native.cache_new(capacity, ttl_ms))
  end

  defp cache, do: :persistent_term.get(@key)

  @doc "The live entry for `ip`, or `nil`."
  @spec lookup(:inet.ip_address()) :: entry() | nil
  def lookup(ip), do: Native.cache_lookup(cache(), PLPMTUD.now_ms(), ip)

  @doc "Records `mtu` (IP bytes) for `ip` with `reason`."
  @spec record(:inet.ip_address(), pos_integer(), reason()) :: :ok
  def record(ip, mtu, reason), do: Native.cache_record(cache(), PLPMTUD.now_ms(), ip, mtu, reason)

  @doc "Forgets `ip`; `true` if it was known."
  @spec delete(:inet.ip_address()) :: boolean()
  def delete(ip), do: Native.cache_remove(cache(), ip)

  @doc """
  The smallest known MTU among `peers`, to send one size to all of them
  (broadcast), or `nil` when none is known. It follows members joining,
  leaving and changing, as the cache does.
  """
  @spec group_mtu([:inet.ip_address()]) :: pos_integer() | nil
  def group_mtu(peers), do: smallest(peers, nil)

  defp smallest([], known), do: known

  defp smallest([ip | rest], known) do
    case lookup(ip) do
      %{mtu: mtu} when known == nil or mtu < known -> smallest(rest, mtu)
      _ -> smallest(rest, known)
    end
  end

  defp smallest(peers, _known),
    do: raise(ArgumentError, "peers must be a proper list of addresses, got: #{inspect(peers)}")

  @doc "Every live entry as `{ip, entry}`."
  @spec entries() :: [{:inet.ip_address(), entry()}]
  def entries, do: snapshot().entries

  @doc "Hits, misses, evictions, expirations and size."
  @spec stats() :: %{atom() => non_neg_integer()}
  def stats, do: Map.delete(snapshot(), :entries)

  @doc """
  The live entries and the counters (`:size`, `:hits`, `:misses`,
  `:evictions`, `:expirations`) taken together, in one call on a dirty CPU
  scheduler: `%{entries: [{ip, entry}], ...}`.
  """
  @spec snapshot() :: %{
          required(:entries) => [{:inet.ip_address(), entry()}],
          optional(atom()) => non_neg_integer()
        }
  def snapshot, do: Native.cache_snapshot(cache(), PLPMTUD.now_ms())
end

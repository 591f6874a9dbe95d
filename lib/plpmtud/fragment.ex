defmodule PLPMTUD.Fragment do
  @moduledoc """
  Application-level fragmentation for datagram users: `split/3` cuts a
  message into datagrams that fit the current payload size (each with a
  16-byte header: message id, index, count, CRC32 of the whole message), and
  a reassembler puts them back together in any order, ignoring duplicates,
  verifying the checksum, expiring incomplete messages and never holding
  more than its bounds. Corrupt, hostile or oversized fragments are refused
  and counted.

  Incomplete messages are keyed by id, count and checksum together: a
  fragment with a held message's id but another count or checksum starts a
  message of its own (counted as `inconsistent` in `stats/1`), so a forger
  who guesses the next id cannot block the real message. One who sees the
  fragments on the path can spoil one attempt (it fails its checksum); a
  retransmission is taken.

  Duplicates are ignored both while a message is incomplete (`:duplicate`)
  and after it was delivered: the reassembler remembers the last 128
  delivered messages (id, count and checksum; a fixed 1.5 KiB), and any
  fragment of one of them is refused as `:duplicate_message`, so a message
  is never delivered twice and a late copy holds no memory.

  Memory: each incomplete message is charged 768 bytes and each fragment
  held its payload plus 96 bytes, which covers the heap the reassembler
  really uses for them; the total never exceeds `:max_bytes`. To make room
  the least complete message (the smallest share of its fragments held)
  goes first, the least recently added to among equals: a forger's messages
  that claim many fragments and hold one go before a real message that has
  received a few. A forger who spoofs the peer's source and keeps opening
  two-fragment messages can still evict a real one (memory stays bounded;
  the sender's retransmission is the remedy).

  Cost: a push takes O(log n) in the messages held. Completing a message
  above 64 KiB copies and checksums it on a dirty CPU scheduler, never on a
  normal one.
  """

  @typedoc "A reassembler (one per peer)."
  @opaque reassembler :: :plpmtud_fragment.reassembler()

  @doc "Bytes of the fragment header."
  @spec header_size() :: 16
  defdelegate header_size, to: :plpmtud_fragment

  @doc """
  Splits `message` into datagrams of at most `max_datagram` bytes (use the
  prober's `packet_size`) for message `id` (0..2^32-1). It runs in Erlang
  (`:plpmtud_fragment.split/3`): a large message is split over many
  reductions, never in one long native call.
  """
  @spec split(binary(), non_neg_integer(), pos_integer()) ::
          {:ok, [binary()]} | {:error, String.t()}
  defdelegate split(message, id, max_datagram), to: :plpmtud_fragment

  @doc """
  A reassembler. Options: `:max_messages` incomplete messages at once (64),
  `:max_bytes` held at once (4 MiB), `:timeout` ms for an incomplete
  message (5 000).
  """
  @spec reassembler(keyword()) :: reassembler()
  def reassembler(options \\ []) do
    options =
      Keyword.validate!(options, max_messages: 64, max_bytes: 4 * 1024 * 1024, timeout: 5_000)

    :plpmtud_fragment.reassembler(Map.new(options))
  end

  @doc """
  Takes one received fragment: `{:ok, message}` when it completed a message,
  `:more` while fragments are missing, `{:error, reason}` when refused
  (`:malformed`, `:out_of_range`, `:duplicate`, `:duplicate_message`,
  `:too_large`, `:bad_checksum`). A message above 64 KiB is joined on a
  dirty CPU scheduler.
  """
  @spec push(reassembler(), binary(), PLPMTUD.time_ms()) ::
          {:ok, binary()} | :more | {:error, :plpmtud_fragment.refusal()}
  def push(reassembler, fragment, now \\ PLPMTUD.now_ms()),
    do: :plpmtud_fragment.push(reassembler, fragment, now)

  @doc "Counters, peak and current bytes held."
  @spec stats(reassembler()) :: %{atom() => non_neg_integer()}
  defdelegate stats(reassembler), to: :plpmtud_fragment
end

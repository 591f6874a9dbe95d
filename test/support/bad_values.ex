defmodule PLPMTUD.Test.BadValues do
  @moduledoc """
  Values the bad-input tests put in place of each argument in turn, shared
  by `PLPMTUD.BadInputTest` and `PLPMTUD.NifSafetyTest`.
  """

  @doc """
  Improper lists, each shaped like a list some function takes (addresses,
  layer names, datagrams) but ending in a non-list tail. rustler's own list
  decoders panic on these; every NIF must raise `ArgumentError` instead.
  """
  @spec improper_lists() :: [maybe_improper_list()]
  def improper_lists do
    [
      [{10, 0, 0, 1} | :x],
      [:ipv4 | :udp],
      ["datagram" | "tail"],
      [1, 2 | 3]
    ]
  end

  @doc "Values no argument of any public function accepts."
  @spec never_valid() :: [term()]
  def never_valid do
    [
      :an_atom,
      -1,
      Integer.pow(2, 70),
      -Integer.pow(2, 70),
      1.5,
      "binary",
      [1, 2],
      {1, 2},
      %{a: 1}
    ] ++ improper_lists()
  end

  @doc """
  `never_valid/0` plus edge values that some arguments accept (empty
  containers, `nil`, the largest 32-bit integer, a 1 MB binary): a call may
  return with these, but it must never do anything but return or raise
  `ArgumentError`.
  """
  @spec edge_values() :: [term()]
  def edge_values do
    never_valid() ++
      [
        4_294_967_295,
        "",
        :binary.copy(<<0>>, 1_000_000),
        [],
        [1, 2, 3],
        {},
        {1, 2, 3, 4, 5},
        %{},
        nil
      ]
  end
end

"""Random variables, plates and parent references: plain data (supports are names of
``graphmodel.supports.SUPPORTS`` entries).

A :class:`Variable` is a name, an event shape, a support and a role. A :class:`Plate`
repeats the variables inside it, either as iid copies (N context views) or as a sequence
(T steps, where a factor may look at an earlier step of a variable, ``z[t-1]``, ``z[t-2]``; an
inference model also at a later one, ``x[t+1]``; and a variable outside the plate at the last
step, ``c[last]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import GraphModelError
from .supports import SUPPORTS, declarable

ROLES = ("latent", "observed", "input")
PLATE_KINDS = ("iid", "sequence")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid identifier-like name, else raise naming ``what``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise GraphModelError(
            f"{what} name must be a letter or '_' followed by letters, digits or '_', found {name!r}"
        )
    return name


def _shape(shape: object, what: str) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise GraphModelError(f"{what}: shape must be a tuple of positive integers, found {shape!r}")
    return tuple(int(s) for s in shape)


@dataclass(frozen=True)
class Variable:
    """A named random variable.

    Args:
        name: identifier used in formulas, files and data binding.
        shape: the event shape, e.g. ``(784,)`` or ``(1, 28, 28)``; ``()`` for a scalar.
        support: one of :data:`SUPPORTS`.
        role: ``"observed"`` (data binds it), ``"latent"`` or ``"input"`` (always given,
            such as a label or a viewpoint; never modelled by a factor of the generative model).
        classes: number of classes for ``support="categorical"``.
        plate: name of the plate the variable lives in, or ``None``.

    Example:
        >>> Variable("x", (784,), support="binary", role="observed").shape
        (784,)
    """

    name: str
    shape: tuple[int, ...] = ()
    support: str = "real"
    role: str = "latent"
    classes: int | None = None
    plate: str | None = None

    def __post_init__(self):
        check_name(self.name, "variable")
        object.__setattr__(self, "shape", _shape(self.shape, f"variable '{self.name}'") if self.shape != () else ())
        if self.support not in SUPPORTS or not SUPPORTS.get(self.support).declarable:
            raise GraphModelError(
                f"variable '{self.name}': unknown support {self.support!r}; known: {', '.join(declarable())}"
            )
        if self.role not in ROLES:
            raise GraphModelError(
                f"variable '{self.name}': unknown role {self.role!r}; known: {', '.join(ROLES)}"
            )
        if self.support == "categorical":
            if not isinstance(self.classes, int) or isinstance(self.classes, bool) or self.classes < 2:
                raise GraphModelError(
                    f"variable '{self.name}': a categorical variable needs classes >= 2, found {self.classes!r}"
                )
        elif self.classes is not None:
            raise GraphModelError(
                f"variable '{self.name}': classes is only for support 'categorical', found support {self.support!r}"
            )
        if self.support in ("one_hot", "simplex") and not self.shape:
            raise GraphModelError(
                f"variable '{self.name}': support {self.support!r} needs a shape whose last dimension "
                "is the number of categories, found ()"
            )
        if self.plate is not None:
            check_name(self.plate, "plate")

    @property
    def prev(self) -> Parent:
        """The previous step of this variable, ``z[t-1]``, as a parent reference."""
        return Parent(self.name, lag=1)

    @property
    def input_dim(self) -> int:
        """Width of this variable when flattened and fed to a network (one-hot for classes)."""
        n = 1
        for s in self.shape:
            n *= s
        return n * self.classes if self.support == "categorical" else n


@dataclass(frozen=True)
class Plate:
    """A repeated block of variables.

    Args:
        name: identifier, referenced by ``Variable.plate``.
        size: default number of copies (N views or T steps); data may give another size.
        kind: ``"iid"`` (exchangeable copies) or ``"sequence"`` (ordered steps).
        inside: the plate this one is nested in, or ``None``. Only a sequence plate inside an
            iid plate that is itself top-level is supported (views × steps): a variable of
            the inner plate has one sequence per view, valued ``(batch..., views, steps, *event)``.
        end: a sequence plate's end token, or ``None``: ``"stop"`` (a binary variable of the
            plate; 1 ends the sequence) or ``"pen[2]"`` (class 2 of a one-hot or categorical
            variable, SketchRNN's "finished"). Sampling stops a sequence at its first end token
            (that step included), and stops the sweep when every sequence has ended.

    Example:
        >>> Plate("steps", 8, "sequence", inside="views").inside
        'views'
        >>> Plate("time", 250, "sequence", end="pen[2]").end_token
        ('pen', 2)
    """

    name: str
    size: int
    kind: str = "iid"
    inside: str | None = None
    end: str | None = None
    jump: Jump | None = None

    def with_end_variable(self, old: str, new: str) -> Plate:
        """This plate with variable ``old`` renamed ``new`` in its end token and its jump
        (itself where neither names it)."""
        out = self if self.jump is None else replace(self, jump=self.jump.renamed(old, new))
        token = self.end_token
        if token is None or token[0] != old:
            return out
        return replace(out, end=new if token[1] is None else f"{new}[{token[1]}]")

    @property
    def end_token(self) -> tuple[str, int | None] | None:
        """``end`` as ``(variable, class or None)``."""
        if self.end is None:
            return None
        m = _END.match(self.end)
        return m.group(1), None if m.group(2) is None else int(m.group(2))

    def __post_init__(self):
        check_name(self.name, "plate")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise GraphModelError(f"plate '{self.name}': size must be a positive integer, found {self.size!r}")
        if self.kind not in PLATE_KINDS:
            raise GraphModelError(
                f"plate '{self.name}': unknown kind {self.kind!r}; known: {', '.join(PLATE_KINDS)}"
            )
        if self.inside is not None:
            check_name(self.inside, "plate")
            if self.inside == self.name:
                raise GraphModelError(f"plate '{self.name}': a plate cannot be inside itself")
        if self.end is not None:
            if self.kind != "sequence":
                raise GraphModelError(f"plate '{self.name}': an end token is for sequence plates, found {self.kind!r}")
            if not isinstance(self.end, str) or not _END.match(self.end):
                raise GraphModelError(f"plate '{self.name}': end must name a variable, 'stop', or a class of one, "
                                      f"'pen[2]'; found {self.end!r}")
        if self.jump is not None:
            if not isinstance(self.jump, Jump):
                object.__setattr__(self, "jump", Jump.of(self.jump, f"plate '{self.name}': jump"))
            if self.kind != "sequence":
                raise GraphModelError(f"plate '{self.name}': a jump is for sequence plates, found {self.kind!r}")
            if self.jump.max > self.size - 1:
                raise GraphModelError(f"plate '{self.name}': jump.max: expected an integer in [1, {self.size - 1}] "
                                      f"(the plate's size less one), found {self.jump.max}")


#: a plate's end token: a variable, or one class of it
_END = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]{1,4})\])?$")


#: the farthest step a parent may reach back or ahead (``z[t-k]``, ``x[t+k]``)
MAX_OFFSET = 1000
_PARENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(?:t([-+])([1-9][0-9]{0,3})|(last)|(t1|t2))\])?$")
#: the steps of a jump plate's pair (``Plate.jump``) that a parent may read: ``b[t1]``, ``b[t2]``
PAIR_STEPS = ("t1", "t2")


@dataclass(frozen=True)
class Parent:
    """A parent reference: a variable, at the same step or another step of a sequence plate.

    ``lag = k > 0`` reads step ``t-k`` (``z[t-1]``, ``z[t-2]``), ``lag = -k`` step ``t+k``
    (``x[t+1]``, inference models only), ``last`` the last step, read from outside the
    plate (``c[last]``), and ``at`` one step of a jump plate's pair (``Plate.jump``), read
    from outside the plate: ``"t1"`` the earlier, ``"t2"`` the later (``b[t1]``, ``b[t2]``).

    Example:
        >>> Parent.parse("z[t-2]"), Parent.parse("x[t+1]").lag, str(Parent("c", last=True))
        (Parent(name='z', lag=2, last=False, at=None), -1, 'c[last]')
        >>> Parent.parse("b[t2]").at
        't2'
    """

    name: str
    lag: int = 0
    last: bool = False
    at: str | None = None

    def __post_init__(self):
        if not isinstance(self.lag, int) or isinstance(self.lag, bool) or abs(self.lag) > MAX_OFFSET:
            raise GraphModelError(f"parent '{self.name}': lag must be an integer in "
                                  f"[-{MAX_OFFSET}, {MAX_OFFSET}], found {self.lag!r}")
        if self.last and self.lag:
            raise GraphModelError(f"parent '{self.name}': a parent reads either the last step or a "
                                  f"step t-k, not both (found lag={self.lag} and last)")
        if self.at is not None and (self.at not in PAIR_STEPS or self.lag or self.last):
            raise GraphModelError(f"parent '{self.name}': at must be one of {', '.join(PAIR_STEPS)} on a parent "
                                  f"without lag or last, found at={self.at!r}")

    @property
    def step(self) -> str | None:
        """The step index as written between brackets: ``"t-2"``, ``"t+1"``, ``"last"``,
        ``"t1"``, or None."""
        if self.last:
            return "last"
        if self.at is not None:
            return self.at
        if self.lag:
            return f"t-{self.lag}" if self.lag > 0 else f"t+{-self.lag}"
        return None

    @property
    def picked(self) -> bool:
        """Whether this parent reads one step of a sequence from outside its plate (``c[last]``,
        ``b[t1]``): a slot of its own, filled after the sequence's sweep."""
        return self.last or self.at is not None

    def __str__(self) -> str:
        step = self.step
        return self.name if step is None else f"{self.name}[{step}]"

    @staticmethod
    def parse(ref: object) -> Parent:
        """Read ``"z"``, ``"z[t-k]"``, ``"x[t+k]"``, ``"c[last]"`` or ``"b[t1]"`` / ``"b[t2]"``
        (or a :class:`Variable` / :class:`Parent`)."""
        if isinstance(ref, Parent):
            return ref
        if isinstance(ref, Variable):
            return Parent(ref.name)
        if isinstance(ref, str):
            m = _PARENT.match(ref)
            if m and m.group(4):
                return Parent(m.group(1), last=True)
            if m and m.group(5):
                return Parent(m.group(1), at=m.group(5))
            if m and m.group(3) and int(m.group(3)) <= MAX_OFFSET:
                k = int(m.group(3))
                return Parent(m.group(1), lag=k if m.group(2) == "-" else -k)
            if m and not m.group(3):
                return Parent(m.group(1))
        raise GraphModelError("a parent must be a variable name, 'name[t-k]', 'name[t+k]' "
                              f"(1 <= k <= {MAX_OFFSET}), 'name[last]' or 'name[t1]' / 'name[t2]', found {ref!r}")


@dataclass(frozen=True)
class Jump:
    """A sequence plate's pair of steps per example: TD-VAE's ``t₁ < t₂ = t₁ + δ``.

    Each evaluation draws, per example, ``δ`` uniformly in ``[1, max]`` (at most the
    sequence's length less one) and ``t₁`` uniformly among the steps that leave ``t₂`` inside
    the sequence. Factors outside the plate read a plate variable at either step
    (``b[t1]``, ``b[t2]``: :class:`Parent` ``at``); the pair itself travels in the batch
    under :func:`pair_key` (given there, it is used as it is).

    Args:
        max: the longest jump D (1 ≤ D < the plate's size).
        delta: an input variable outside every plate, shape ``(1,)``, that receives δ as a
            number (a transition ``p(z₂|z₁,δ)`` lists it as a parent), or ``None``.
        gather: ``(variable, "x[t2]")`` pairs: an observed variable outside every plate that
            holds observed ``x`` of the plate at the pair's step, taken from the batch when the
            pair is drawn (the decoder's target ``p(x₂|z₂)``); data binds ``x`` only.

    Example:
        >>> Jump(4, delta="dt", gather=(("x2", "x[t2]"),)).gathered("x2")
        Parent(name='x', lag=0, last=False, at='t2')
    """

    max: int
    delta: str | None = None
    gather: tuple = ()

    def __post_init__(self):
        if not isinstance(self.max, int) or isinstance(self.max, bool) or self.max < 1:
            raise GraphModelError(f"jump.max: expected a positive integer, found {self.max!r}")
        if self.delta is not None:
            check_name(self.delta, "jump.delta: variable")
        items = tuple(self.gather.items()) if isinstance(self.gather, dict) else self.gather
        if not isinstance(items, (tuple, list)) or not all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items):
            raise GraphModelError(f"jump.gather: expected variable → 'x[t1]' or 'x[t2]' pairs, found {self.gather!r}")
        for name, ref in items:
            check_name(name, "jump.gather: variable")
            p = Parent.parse(ref) if isinstance(ref, str) else None
            if p is None or p.at is None:
                raise GraphModelError(f"jump.gather.{name}: expected 'variable[t1]' or 'variable[t2]', found {ref!r}")
        object.__setattr__(self, "gather", tuple((n, str(r)) for n, r in items))

    @staticmethod
    def of(value, what: str = "jump") -> Jump:
        """A :class:`Jump` from itself, an integer (the longest jump) or ``{"max": …, "delta": …,
        "gather": {…}}``."""
        if isinstance(value, Jump):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Jump(value)
        if isinstance(value, dict) and "max" in value and set(value) <= {"max", "delta", "gather"}:
            return Jump(value["max"], value.get("delta"), value.get("gather", ()))
        raise GraphModelError(f"{what}: expected the longest jump (an integer) or {{'max', 'delta', 'gather'}}, "
                              f"found {value!r}")

    def gathered(self, name: str) -> Parent | None:
        """The step of the plate that gathered variable ``name`` holds, or ``None``."""
        return next((Parent.parse(r) for n, r in self.gather if n == name), None)

    def renamed(self, old: str, new: str) -> Jump:
        """This jump with variable ``old`` renamed ``new``."""
        return self.mapped({old: new})

    def mapped(self, names: dict) -> Jump:
        """This jump with its variables renamed by ``names`` (old → new; others kept)."""
        def ren(ref):
            p = Parent.parse(ref)
            return str(replace(p, name=names.get(p.name, p.name)))
        return Jump(self.max, names.get(self.delta, self.delta),
                    tuple((names.get(n, n), ren(r)) for n, r in self.gather))

    def to_json(self) -> dict:
        d: dict = {"max": self.max}
        if self.delta is not None:
            d["delta"] = self.delta
        if self.gather:
            d["gather"] = dict(self.gather)
        return d


def pair_key(plate: str) -> str:
    """The key under which a batch gives a jump plate's pair of steps: a ``(batch..., 2)``
    integer tensor of ``(t₁, t₂)`` per example (drawn per evaluation where not given).

    Example:
        >>> pair_key("time")
        'time.pair'
    """
    return f"{plate}.pair"


def length_key(plate: str) -> str:
    """The key under which a batch gives the lengths of a sequence plate's sequences.

    A ``(batch...)`` integer tensor: example ``b`` has steps ``0 .. lengths[b]-1``; the steps
    after are padding, left out of every log-density (``(batch..., views)`` for a sequence
    plate nested in an iid plate: one length per view). Not an identifier, so it never names
    a variable.

    Example:
        >>> length_key("time")
        'time.length'
    """
    return f"{plate}.length"

# Copyright: (c) 2026, airgap.k8s contributors
# Apache License 2.0 (see LICENSE)
"""Several files in one module call: a list option whose elements take the module's own options.

Private to the collection; ``pki_cert`` (``certs``) and ``kubeconfig``
(``kubeconfigs``) use it. The top-level options are the defaults of every
element and an element's own value wins (whole: a dict is replaced, not
merged). Each element, with its defaults filled in, is checked with the
module's rules as if it were a call of its own, and every element is checked
before any file is touched. Without the list option the module behaves, and
returns, exactly as a single call always did.
"""

from __future__ import annotations

import copy
import typing as t
from dataclasses import dataclass, field

from ansible.module_utils.common.validation import (
    check_mutually_exclusive,
    check_required_arguments,
    check_required_by,
    check_required_if,
    check_required_together,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible.module_utils.basic import AnsibleModule


class BatchError(ValueError):
    """A call whose options break the module's rules; the message names the element."""


@dataclass(frozen=True)
class Rules:
    """The module's per-file rules, in AnsibleModule's terms, checked on each element."""

    required: tuple[str, ...] = ()
    mutually_exclusive: tuple[tuple[str, ...], ...] = ()
    required_together: tuple[tuple[str, ...], ...] = ()
    required_if: tuple[tuple[t.Any, ...], ...] = ()
    required_by: dict[str, str | tuple[str, ...]] = field(default_factory=dict)

    def check(self, options: t.Mapping[str, t.Any]) -> None:
        """Raise TypeError (with AnsibleModule's wording) when ``options`` break a rule; unset means None."""
        given = {name: value for name, value in options.items() if value is not None}
        check_required_arguments({name: {"required": True} for name in self.required}, given)
        check_mutually_exclusive(list(self.mutually_exclusive), given)
        check_required_together(list(self.required_together), given)
        check_required_if(list(self.required_if), given)
        check_required_by(dict(self.required_by), given)


def element_spec(argument_spec: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The options of a list element: the module's own, none required and none with a default of its own.

    An option an element leaves out is None after validation, so the top-level
    value (with its default) applies. Suboptions keep their defaults.
    """
    spec = {}
    for name, option in argument_spec.items():
        spec[name] = {key: copy.deepcopy(value) for key, value in option.items() if key not in ("required", "default")}
    return spec


def elements(
    params: t.Mapping[str, t.Any], list_option: str, names: t.Iterable[str], rules: Rules
) -> list[tuple[str, dict[str, t.Any]]]:
    """(label, options) of every file of the call, checked with ``rules``.

    Without ``list_option`` the top-level options are the one file (label "");
    otherwise each element over the top-level defaults, labelled
    ``<list_option>[<index>]`` and its path when it has one.
    """
    names = list(names)
    top = {name: params.get(name) for name in names}
    listed = params.get(list_option)
    if listed is None:
        try:
            rules.check(top)
        except TypeError as exc:
            missing = [name for name in rules.required if top.get(name) is None]
            hint = f" (or list the files in {list_option})" if missing else ""
            raise BatchError(f"{exc}{hint}") from None
        return [("", top)]
    result = []
    for index, element in enumerate(listed):
        options = {name: element[name] if element.get(name) is not None else top[name] for name in names}
        where = f"{list_option}[{index}]"
        if options.get("path"):
            where += f" ({options['path']})"
        try:
            rules.check(options)
        except TypeError as exc:
            raise BatchError(f"{where}: {exc}") from None
        result.append((where, options))
    return result


def run(
    module: AnsibleModule,
    list_option: str,
    files: list[tuple[str, dict[str, t.Any]]],
    *,
    prepare: t.Callable[[dict[str, t.Any]], t.Any],
    apply: t.Callable[[dict[str, t.Any], t.Any], dict[str, t.Any]],
    errors: type[Exception] | tuple[type[Exception], ...],
) -> dict[str, t.Any]:
    """The module's result for ``files`` (from ``elements``); fails the module on ``errors``.

    ``prepare(options)`` checks one file's request and must not touch any file;
    it runs for every file first, so a bad element stops the call before
    anything is written. ``apply(options, prepared)`` then brings each file in
    line, in order, and returns the single form's result (``changed``,
    ``reasons``, ..., ``diff`` when asked).

    The single form returns that result unchanged. The list form returns
    ``changed`` (any file changed), ``results`` (per file, in order: ``path``
    and the single form's values without ``diff``) and, in diff mode, ``diff``:
    one entry per changed file.
    """
    single = module.params.get(list_option) is None
    results: list[dict[str, t.Any]] = []
    diffs: list[dict[str, t.Any]] = []

    def fail(where: str, exc: Exception) -> t.NoReturn:
        if single:
            module.fail_json(msg=str(exc))
        module.fail_json(msg=f"{where}: {exc}", changed=any(r["changed"] for r in results), results=results)
        raise AssertionError("fail_json returned")  # pragma: no cover

    prepared = []
    for where, options in files:
        try:
            prepared.append((where, options, prepare(options)))
        except errors as exc:
            fail(where, exc)
    for where, options, request in prepared:
        try:
            result = apply(options, request)
        except errors as exc:
            fail(where, exc)
        if single:
            return result
        diff = result.pop("diff", None)
        if diff is not None and result["changed"]:
            diffs.append(diff)
        results.append({"path": options["path"], **result})
    outcome: dict[str, t.Any] = {"changed": any(r["changed"] for r in results), "results": results}
    if module._diff:
        outcome["diff"] = diffs
    return outcome

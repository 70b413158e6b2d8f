"""An offline description of the SHFQC+ nodes the readout driver touches (test data).

Each entry is a node path below ``/devN/`` with every index written ``n``, described the way the
data server's ``listNodesJSON`` describes a node (``Type``, ``Properties``, ``Unit``, ``Options``;
an enumerated option is ``'"keyword", "alias": description'`` or a bare description when the
option has no keyword). Assembled from the LabOne SHFQC+/SHFQA/SHFSG node documentation, the
zhinst-toolkit node parsers and what LabOne Q writes; it is not a dump of a device. In particular
the QA generator's aux-trigger enum has no ``internal_trigger`` keyword (a standalone SHFQC+ is
triggered internally with the integer option 8), while the SG sequencers' enum has one. The driver
does not rely on this file: at connect time it checks its trigger values against the device's
own node info.

:func:`check_write` is what the fake data server runs on every write: unknown node, read-only
node, wrong value type or a value outside an enum raise ``ValueError`` naming the node.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

INT, DOUBLE, ENUM, VECTOR, STRING = "Integer (64 bit)", "Double", "Integer (enumerated)", "ZIVectorData", "String"
RW, R = "Read, Write, Setting", "Read"


def _node(kind: str, properties: str = RW, unit: str = "None", options: dict[str, str] | None = None) -> dict:
    info: dict[str, Any] = {"Type": kind, "Properties": properties, "Unit": unit}
    if options is not None:
        info["Options"] = options
    return info


_QA_AUX_TRIGGERS = {
    "0": '"chan0trigin0", "channel0_trigger_input0": Channel 1, Trigger Input A.',
    "1": '"chan0trigin1", "channel0_trigger_input1": Channel 1, Trigger Input B.',
    "8": "Internal trigger of the SHFQC+ (system/internaltrigger).",
    "1024": '"swtrig0", "software_trigger0": Software Trigger 0.',
}
_SG_AUX_TRIGGERS = {
    "0": '"chan0trigin0", "channel0_trigger_input0": Channel 1, Trigger Input A.',
    "1": '"chan0trigin1", "channel0_trigger_input1": Channel 1, Trigger Input B.',
    "8": '"internal_trigger": Internal trigger of the SHFQC+ (system/internaltrigger).',
    "1024": '"swtrig0", "software_trigger0": Software Trigger 0.',
}

NODES: dict[str, dict] = {
    "features/devtype": _node(STRING, R),
    "features/options": _node(STRING, R),
    # --- QA channel --------------------------------------------------------------------------
    "qachannels/n/mode": _node(ENUM, options={"0": '"spectroscopy": Spectroscopy mode.',
                                              "1": '"readout": Qubit Readout mode.'}),
    "qachannels/n/centerfreq": _node(DOUBLE, unit="Hz"),
    "qachannels/n/input/range": _node(DOUBLE, unit="dBm"),
    "qachannels/n/output/range": _node(DOUBLE, unit="dBm"),
    "qachannels/n/input/on": _node(INT),
    "qachannels/n/output/on": _node(INT),
    "qachannels/n/generator/auxtriggers/n/channel": _node(ENUM, options=_QA_AUX_TRIGGERS),
    "qachannels/n/generator/delay": _node(DOUBLE, unit="s"),
    "qachannels/n/generator/waveforms/n/wave": _node(VECTOR, "Read, Write"),
    "qachannels/n/generator/clearwave": _node(INT, "Read, Write"),
    "qachannels/n/generator/reset": _node(INT, "Read, Write"),
    "qachannels/n/generator/elf/data": _node(VECTOR, "Write"),
    "qachannels/n/generator/ready": _node(INT, R),
    "qachannels/n/generator/single": _node(INT),
    "qachannels/n/generator/enable": _node(INT, "Read, Write"),
    "qachannels/n/readout/integration/clearweight": _node(INT, "Read, Write"),
    "qachannels/n/readout/integration/weights/n/wave": _node(VECTOR, "Read, Write"),
    "qachannels/n/readout/integration/length": _node(INT, unit="Samples"),
    "qachannels/n/readout/integration/delay": _node(DOUBLE, unit="s"),
    "qachannels/n/readout/integration/downsampling/factor": _node(INT),
    "qachannels/n/readout/discriminators/n/threshold": _node(DOUBLE),
    "qachannels/n/readout/multistate/enable": _node(INT),
    "qachannels/n/readout/result/source": _node(ENUM, options={
        "1": '"result_of_integration": Complex-valued integration results of the Weighted Integration.',
        "3": '"result_of_discrimination": The results after state discrimination.',
    }),
    "qachannels/n/readout/result/length": _node(INT),
    "qachannels/n/readout/result/averages": _node(INT),
    "qachannels/n/readout/result/mode": _node(ENUM, options={"0": '"cyclic": Cyclic averaging.',
                                                              "1": '"sequential": Sequential averaging.'}),
    "qachannels/n/readout/result/enable": _node(INT, "Read, Write"),
    "qachannels/n/readout/result/acquired": _node(INT, R),
    "qachannels/n/readout/result/errors": _node(INT, R),
    "qachannels/n/readout/result/data/n/wave": _node(VECTOR, R),
    "qachannels/n/spectroscopy/result/enable": _node(INT, "Read, Write"),
    "qachannels/n/modulation/enable": _node(INT),  # long-readout (LRT) option
    "qachannels/n/pipeliner/reset": _node(INT, "Read, Write"),
    "qachannels/n/pipeliner/mode": _node(ENUM, options={"0": '"off": Pipeliner off.',
                                                        "1": '"on": Pipeliner on.'}),
    "qachannels/n/synchronization/enable": _node(INT),
    # --- SG channels -------------------------------------------------------------------------
    "sgchannels/n/synthesizer": _node(INT, R),
    "sgchannels/n/output/range": _node(DOUBLE, unit="dBm"),
    "sgchannels/n/output/rflfpath": _node(INT),
    "sgchannels/n/output/on": _node(INT),
    "sgchannels/n/oscs/n/freq": _node(DOUBLE, unit="Hz"),
    "sgchannels/n/sines/n/oscselect": _node(INT),
    "sgchannels/n/sines/n/phaseshift": _node(DOUBLE, unit="deg"),
    "sgchannels/n/sines/n/i/enable": _node(INT),
    "sgchannels/n/sines/n/q/enable": _node(INT),
    "sgchannels/n/awg/modulation/enable": _node(INT),
    "sgchannels/n/awg/outputamplitude": _node(DOUBLE),
    "sgchannels/n/awg/outputs/n/gains/n": _node(DOUBLE),
    "sgchannels/n/awg/auxtriggers/n/channel": _node(ENUM, options=_SG_AUX_TRIGGERS),
    "sgchannels/n/awg/auxtriggers/n/slope": _node(ENUM, options={
        "0": '"level_sensitive": Level sensitive.', "1": '"rising_edge": Rising edge.',
        "2": '"falling_edge": Falling edge.', "3": '"both_edges": Both edges.',
    }),
    "sgchannels/n/awg/reset": _node(INT, "Read, Write"),
    "sgchannels/n/awg/elf/data": _node(VECTOR, "Write"),
    "sgchannels/n/awg/ready": _node(INT, R),
    "sgchannels/n/awg/single": _node(INT),
    "sgchannels/n/awg/enable": _node(INT, "Read, Write"),
    "sgchannels/n/pipeliner/reset": _node(INT, "Read, Write"),
    "sgchannels/n/pipeliner/mode": _node(ENUM, options={"0": '"off": Pipeliner off.',
                                                        "1": '"on": Pipeliner on.'}),
    "sgchannels/n/synchronization/enable": _node(INT),
    "synthesizers/n/centerfreq": _node(DOUBLE, unit="Hz"),
    # --- system ------------------------------------------------------------------------------
    "system/internaltrigger/repetitions": _node(INT),
    "system/internaltrigger/holdoff": _node(DOUBLE, unit="s"),
    "system/internaltrigger/enable": _node(INT, "Read, Write"),
    "system/internaltrigger/synchronization/enable": _node(INT),
    "system/synchronization/source": _node(ENUM, options={"0": '"internal": Internal.',
                                                          "1": '"external": External (ZSync).'}),
}


def pattern(path: str) -> str:
    """``/dev12345/qachannels/0/readout/result/data/1/wave`` -> ``qachannels/n/readout/result/data/n/wave``."""
    parts = path.lower().strip("/").split("/")[1:]
    return "/".join("n" if part.isdigit() else part for part in parts)


def node_info(path: str) -> dict:
    """The description of ``path`` (``KeyError`` if the SHFQC+ has no such node)."""
    return NODES[pattern(path)]


def enum_keywords(info: dict) -> dict[str, int]:
    """Keyword -> integer of an enumerated node (all quoted keywords of each option)."""
    keywords = {}
    for key, text in info.get("Options", {}).items():
        for keyword in re.findall(r'"([a-zA-Z0-9_-]+)"', text):
            keywords[keyword] = int(key)
    return keywords


def check_write(path: str, value: Any) -> None:
    """``ValueError`` unless ``value`` may be written to ``path`` on an SHFQC+."""
    try:
        info = node_info(path)
    except KeyError:
        raise ValueError(f"{path}: no such node on an SHFQC+") from None
    if "Write" not in info["Properties"]:
        raise ValueError(f"{path}: read-only node ({info['Properties']})")
    kind = info["Type"]
    if kind == ENUM:
        if isinstance(value, str):
            if value not in enum_keywords(info):
                raise ValueError(f"{path}: {value!r} is not one of {sorted(enum_keywords(info))}")
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if str(int(value)) not in info["Options"]:
                raise ValueError(f"{path}: {value!r} is not one of the options {sorted(info['Options'], key=int)}")
        else:
            raise ValueError(f"{path}: enumerated node takes an int or a keyword, got {value!r}")
    elif kind == INT:
        if not (isinstance(value, (int, np.integer, bool)) or (isinstance(value, float) and value.is_integer())):
            raise ValueError(f"{path}: integer node got {value!r}")
    elif kind == DOUBLE:
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise ValueError(f"{path}: double node got {value!r}")
    elif kind == VECTOR:
        if not isinstance(value, (bytes, bytearray, np.ndarray, list, tuple)):
            raise ValueError(f"{path}: vector node got {type(value).__name__}")
    elif kind == STRING:
        if not isinstance(value, str):
            raise ValueError(f"{path}: string node got {value!r}")


def differences_from_device(listing: dict) -> list[str]:
    """Where this description disagrees with a real device's ``listNodesJSON("/devN/*")`` output
    (a dict path -> node info): missing nodes, other types or properties, enum options that are
    not on the device. Bring-up: ``python tests/shfqc_node_tree.py nodes.json``."""
    device: dict[str, dict] = {}
    for path, info in listing.items():
        device.setdefault(pattern(path), info)
    problems = []
    for name, info in NODES.items():
        found = device.get(name)
        if found is None:
            problems.append(f"{name}: not on the device")
            continue
        if found.get("Type") != info["Type"]:
            problems.append(f"{name}: type {found.get('Type')!r} on the device, {info['Type']!r} here")
        if "Write" in info["Properties"] and "Write" not in found.get("Properties", ""):
            problems.append(f"{name}: not writable on the device")
        missing = set(info.get("Options", {})) - set(found.get("Options", {}))
        if missing:
            problems.append(f"{name}: options {sorted(int(key) for key in missing)} not on the device")
        elif set(enum_keywords(info)) - set(enum_keywords(found)):
            problems.append(f"{name}: keywords {sorted(set(enum_keywords(info)) - set(enum_keywords(found)))} "
                            "not on the device")
    return problems


if __name__ == "__main__":  # compare with a dump of a real device
    import json
    import sys

    with open(sys.argv[1]) as handle:
        found = differences_from_device(json.load(handle))
    print("\n".join(found) or "the description matches the device")

"""JSON Schema compatibility, after the Confluent Schema Registry's published rules.

The registry's checker (``io.confluent.kafka.schemaregistry.json.diff``) walks the old and the new
schema together and names each difference (``Difference.Type``); a fixed set of those names is
compatible in the BACKWARD direction, and FORWARD is the same check with the schemas swapped. We
keep its vocabulary and its rules (open, closed and partially open content models; a property
added to an open object breaks BACKWARD because old data may hold any value under that name) but
walk once and record both directions per change, so one diff answers every mode.

Differences from the registry, each on purpose:

- keywords are compared where they are written, not after everit's re-modelling of a schema into
  typed sub-schemas, so ``{"type": "string", "maxLength": 5}`` reports ``max_length_added``
  rather than a changed combined schema;
- ``format`` is compared (the sentinel asserts formats), and so are ``const``, ``contains``,
  ``propertyNames``, ``if``/``then``/``else`` and ``patternProperties`` entries;
- ``$ref`` is followed in both schemas (in-file and across files, through the catalog's
  documents) before comparing, with cycle protection, so a change to a shared definition is
  reported once at the definition, and a ``$ref`` swapped for the same schema inline is no change;
- adding ``anyOf``/``oneOf``/``allOf`` next to other keywords is judged by distributing the other
  keywords into each branch (``A ∧ (B₁ ∨ B₂) = (A ∧ B₁) ∨ (A ∧ B₂)``), and a combinator added or
  removed takes part in the comparison of types (``allOf: [{type: string}]`` is a string);
- an ``allOf`` of one branch is merged into the schema holding it where that provably means the
  same (``_conjoin``: ``properties`` maps and ``required`` lists joined, each entry reported
  where it is written), so ``b`` declared in ``allOf: [{properties: {b: ...}}]`` beside
  ``unevaluatedProperties: false`` is judged as ``b`` declared beside it; where the branch-by-
  branch judgement cannot be proven (``unevaluated*`` sees every branch's evaluation, or a branch
  keyword would read the siblings' ``properties``), the change is breaking both ways;
- ``oneOf`` rejects a value matching two branches, so "some branch accepts it" is not enough:
  a ``oneOf`` added, removed or changed is compatible in a direction only if the branches on the
  receiving side are provably disjoint (distinct types, disjoint ``enum``/``const``, or a
  required discriminator property with disjoint values);
- a ``default`` does not make old data valid: the sentinel validates what is on the wire and
  never fills defaults in, so a property with a default becoming required breaks BACKWARD
  (the registry counts it compatible).

An absent sub-schema keyword is the empty schema, so ``items`` going from absent to
``{"type": "string"}`` is reported precisely, as ``type_narrowed`` at ``/items/type``.

The rules live in one module per keyword family, the way python-jsonschema keeps one function per
keyword: ``nodes`` (locations and ``$ref`` resolution), ``flatten`` (``allOf`` merging), ``base`` (the
walk), ``annotations``, ``scalars``, ``evaluation`` (unlisted properties and items), ``objects``,
``arrays``, ``combinators``; ``diff`` composes them into :class:`JsonDiff` with the dispatcher.
"""

from stream_sentinel.core.compat.json.diff import JsonDiff, diff_json

__all__ = ["JsonDiff", "diff_json"]

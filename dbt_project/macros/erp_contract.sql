{#
    The ERP extracts and their contract columns, in contract order. Mirrors
    orchestration/ingest/contract.py (tests/test_dbt_marts.py checks they agree).
#}
{% macro erp_extracts() -%}
    {{ return([
        'items', 'locations', 'sales', 'suppliers', 'inventory_snapshots',
        'purchase_orders', 'receipts', 'promotions', 'price_changes', 'transfers'
    ]) }}
{%- endmacro %}


{% macro erp_contract_columns(extract) -%}
    {%- set columns = {
        'items': ['sku', 'description', 'category', 'unit_cost', 'unit_price', 'case_pack', 'moq',
                  'supplier_id', 'launch_date', 'substitute_group', 'default_lead_time_days'],
        'locations': ['location_id', 'location_name', 'location_type', 'region', 'replenished_from',
                      'transfer_lead_time_days', 'capacity_units', 'open_date'],
        'sales': ['sale_date', 'sku', 'location_id', 'quantity', 'uom', 'net_price', 'promo_flag'],
        'suppliers': ['supplier_id', 'supplier_name', 'default_lead_time_days', 'order_cost', 'country'],
        'inventory_snapshots': ['snapshot_date', 'sku', 'location_id', 'on_hand_qty'],
        'purchase_orders': ['po_number', 'po_line', 'supplier_id', 'sku', 'ship_to_location_id',
                            'order_date', 'order_qty', 'promised_date', 'unit_cost', 'status'],
        'receipts': ['po_number', 'po_line', 'receipt_date', 'received_qty', 'receipt_id'],
        'promotions': ['promo_id', 'sku', 'location_id', 'start_date', 'end_date', 'discount_pct',
                       'promo_type'],
        'price_changes': ['sku', 'location_id', 'effective_date', 'unit_price'],
        'transfers': ['transfer_id', 'sku', 'from_location_id', 'to_location_id', 'ship_date',
                      'receipt_date', 'quantity'],
    } -%}
    {{ return(columns[extract]) }}
{%- endmacro %}


{# Lineage columns every raw table carries (written by orchestration/ingest/landing.py). #}
{% macro erp_lineage_columns(relation_alias=none) -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    {{ prefix }}_source_file,
    {{ prefix }}_source_row,
    {{ prefix }}_file_checksum,
    {{ prefix }}_loaded_at
{%- endmacro %}


{#
    The raw row as JSON text (contract columns, values exactly as received), for
    marts.quarantine_rows.record. `relation_alias` qualifies the columns.
#}
{% macro erp_raw_record(extract, relation_alias) -%}
    json_object(
        {%- for column in erp_contract_columns(extract) %}
        '{{ column }}', {{ relation_alias }}."{{ column }}"{{ "," if not loop.last }}
        {%- endfor %}
    )::varchar
{%- endmacro %}


{# Load order of a raw row as a sortable struct: _loaded_at, then _source_file, then _source_row. #}
{% macro erp_load_position(relation_alias=none) -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    {'loaded_at': {{ prefix }}_loaded_at, 'source_file': {{ prefix }}_source_file, 'source_row': {{ prefix }}_source_row}
{%- endmacro %}


{#
    Exact copies among the rows of `relation` (raw.<extract>): a query returning, for
    every row that has at least one exact copy, its lineage key (_source_file, _source_row) and

    * _copy_number: 1 for the first loaded copy, 2+ for later ones (quarantined as duplicate_row);
    * _last_copy_position: the load position of the last copy (see erp_load_position).

    "Exact" compares every contract column as received, except that NULL and '' are the same
    (both mean missing). Rows without a copy are not returned: their copy number is 1 and their
    last copy is themselves.

    Why the two steps: a window partitioned by every text column sorts the whole extract (about
    90 s for 22M sales rows on 2 cores). Hashing the row first and comparing exactly only the rows
    whose hash repeats gives the same answer (a hash collision between different rows is resolved
    by the exact partition) at the cost of one integer aggregation.

    For versioned extracts, ordering versions of a key by _last_copy_position makes a version
    re-sent after a different one (A, then B, then A again) current again, although the re-sent
    copy is quarantined as a duplicate_row: the accepted first copy carries the position of its
    last copy.
#}
{% macro erp_exact_copies(relation, extract) -%}
    {%- set exact_columns -%}
        {% for column in erp_contract_columns(extract) %}nullif("{{ column }}", ''){{ ", " if not loop.last }}{% endfor %}
    {%- endset -%}
    select
        _source_file,
        _source_row,
        row_number() over (
            partition by {{ exact_columns }}
            order by _loaded_at, _source_file, _source_row
        ) as _copy_number,
        max({{ erp_load_position() }}) over (
            partition by {{ exact_columns }}
        ) as _last_copy_position

    from {{ relation }}
    where hash({{ exact_columns }}) in (
        select hash({{ exact_columns }})
        from {{ relation }}
        group by 1
        having count(*) > 1
    )
{%- endmacro %}


{#
    Integer surrogate of a (sku, location_id) pair, for the joins of the 73M-row daily grid: a
    64-bit hash of the two keys. int_demand__series tests that it is unique, so a collision
    would fail the build instead of merging two SKU-locations.
#}
{% macro sku_location_key(sku, location_id) -%}
    hash({{ sku }}, {{ location_id }})
{%- endmacro %}

"""stored masked ID numbers take the display form of decisions §4

Residents imported before this revision kept ``3310**********123X`` beside the keyed
hash: with the stored birth date and area, the three visible sequence digits leave about
9 candidates for the full number. Every page already showed ``3310*************X``;
now the stored form is that too (:func:`healthmap.ids.mask_id`), so no query, export or
backup holds more. Matching uses the keyed hash, which is unchanged.

The hidden digits cannot be brought back: the downgrade leaves the values as they are.

Revision ID: 0020
Revises: 0017
"""
from alembic import op


revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "UPDATE residents SET id_masked = substr(id_masked, 1, 4) || '*************' "
        "|| substr(id_masked, 18, 1) WHERE length(id_masked) = 18")


def downgrade() -> None:
    pass

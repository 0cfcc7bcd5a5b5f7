"""steps wait for the steps they depend on (protocol shards run in parallel); lookup tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import sandbox.db.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('after', sa.JSON(), nullable=True))
    op.create_table('lookup_tables',
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('labels', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('built_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_lookup_tables_dataset_id_datasets')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_lookup_tables_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lookup_tables')),
    sa.UniqueConstraint('dataset_id', 'version', 'labels', name=op.f('uq_lookup_tables_dataset_id_version_labels'))
    )
    with op.batch_alter_table('lookup_tables', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lookup_tables_dataset_id'), ['dataset_id'], unique=False)


def downgrade() -> None:
    op.drop_table('lookup_tables')
    with op.batch_alter_table('steps', schema=None) as batch_op:
        batch_op.drop_column('after')

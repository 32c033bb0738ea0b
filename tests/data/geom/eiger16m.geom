; Dectris EIGER2 X 16M, single panel 4148 x 4362 (75 um), data from the
; Dectris master/data files. Module gaps masked as bad regions.

photon_energy = /entry/instrument/beam/incident_energy_eV
clen = 0.25
adu_per_photon = 1
max_adu = 4294967294

data = /entry/data/data
dim0 = %
dim1 = ss
dim2 = fs

p0/min_fs = 0
p0/max_fs = 4147
p0/min_ss = 0
p0/max_ss = 4361
p0/corner_x = -2075.32
p0/corner_y = 2180.77
p0/fs = x
p0/ss = -y
p0/res = 13333.333

bad_hgap0/panel = p0
bad_hgap0/min_fs = 0
bad_hgap0/max_fs = 4147
bad_hgap0/min_ss = 514
bad_hgap0/max_ss = 550

bad_hgap1/panel = p0
bad_hgap1/min_fs = 0
bad_hgap1/max_fs = 4147
bad_hgap1/min_ss = 1065
bad_hgap1/max_ss = 1101

bad_hgap2/panel = p0
bad_hgap2/min_fs = 0
bad_hgap2/max_fs = 4147
bad_hgap2/min_ss = 1616
bad_hgap2/max_ss = 1652

bad_hgap3/panel = p0
bad_hgap3/min_fs = 0
bad_hgap3/max_fs = 4147
bad_hgap3/min_ss = 2167
bad_hgap3/max_ss = 2203

bad_hgap4/panel = p0
bad_hgap4/min_fs = 0
bad_hgap4/max_fs = 4147
bad_hgap4/min_ss = 2718
bad_hgap4/max_ss = 2754

bad_hgap5/panel = p0
bad_hgap5/min_fs = 0
bad_hgap5/max_fs = 4147
bad_hgap5/min_ss = 3269
bad_hgap5/max_ss = 3305

bad_hgap6/panel = p0
bad_hgap6/min_fs = 0
bad_hgap6/max_fs = 4147
bad_hgap6/min_ss = 3820
bad_hgap6/max_ss = 3856

